// Runs static/console.js on a minimal stand-in for the DOM, feeds it the alarm
// events given as JSON on stdin, and prints what each card shows, as JSON.
"use strict";
const fs = require("fs");
const vm = require("vm");

class Element {
  constructor(tag) {
    this.tag = tag;
    this.textContent = "";
    this.children = [];
    this.classes = new Set();
    this.parts = new Map();
    this.hidden = false;
    this.dataset = {};
    this.attributes = {};
    this.elements = new Proxy({}, { get: (_, name) => this.querySelector("[name=" + String(name) + "]") });
  }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  contains(node) { return this.children.includes(node); }
  focus() {}
  get classList() {
    const classes = this.classes;
    return {
      add: (name) => classes.add(name),
      toggle: (name, on) => (on ? classes.add(name) : classes.delete(name)),
    };
  }
  set className(names) { this.classes = new Set(names.split(" ")); }
  querySelector(selector) {
    if (!this.parts.has(selector)) this.parts.set(selector, new Element(selector));
    return this.parts.get(selector);
  }
  cloneNode() { return new Element(this.tag); }
  append(...nodes) {
    // As in the DOM: appending a child that is there already moves it.
    this.children = this.children.filter((child) => !nodes.includes(child));
    this.children.push(...nodes);
  }
  prepend(node) { this.children.unshift(node); }
  replaceChildren(...nodes) { this.children = nodes; this.textContent = ""; }
  addEventListener() {}
  get text() {
    return this.textContent + this.children.map((c) => (c instanceof Element ? c.text : c.data)).join(" ");
  }
}

const byId = new Map();
const template = new Element("template");
template.content = { firstElementChild: new Element("article") };
byId.set("alarm-card", template);
globalThis.document = {
  title: "",
  getElementById: (id) => byId.get(id) || byId.set(id, new Element(id)).get(id),
  createElement: (tag) => new Element(tag),
  createElementNS: (_ns, tag) => new Element(tag),
  querySelector: () => null,
  createTextNode: (data) => ({ data }),
  activeElement: null,
};
globalThis.Node = Element;
globalThis.fetch = async () => ({ ok: false, json: async () => ({}) });
globalThis.window = { addEventListener() {} };
globalThis.setInterval = () => 0; // the console's periodic reads: none in a run of the script
class FakeEventSource {
  constructor(url) { this.url = url; this.listeners = {}; FakeEventSource.last = this; }
  addEventListener(name, listener) { this.listeners[name] = listener; }
}
FakeEventSource.CLOSED = 2;
globalThis.EventSource = FakeEventSource;

vm.runInThisContext(fs.readFileSync(process.argv[2], "utf8"), { filename: "console.js" });
const source = FakeEventSource.last;
for (const event of JSON.parse(fs.readFileSync(0, "utf8"))) {
  source.listeners[event.change ? "update" : "alarm"]({ data: JSON.stringify(event) });
}
source.listeners.ready({ data: "{}" });

const cards = document.getElementById("alarms").children;
const shown = (card, selector) => card.querySelector(selector).text;
console.log(JSON.stringify({
  stream: source.url,
  status: document.getElementById("status").text,
  title: document.title,
  empty_hidden: document.getElementById("empty").hidden,
  cards: cards.map((card) => ({
    classes: [...card.classes].sort(),
    alarm_id: card.dataset.alarmId,
    headline: shown(card, ".headline"),
    state: shown(card, ".state"),
    steps: card.querySelector(".steps").children.map((step) => step.text),
    buttons: [".do-acknowledge", ".do-dispatch", ".do-on-scene", ".do-close", ".do-confirm-test"]
      .filter((selector) => !card.querySelector(selector).hidden),
    zones: shown(card, ".zones"),
    trail: card.querySelector(".trail tbody").children.map((row) => row.text),
    audit: card.querySelector(".audit tbody").children.map((row) => row.text),
    magistrate: shown(card, ".magistrate"),
    banner_person: shown(card, ".banner-person"),
    weapons: shown(card, ".weapons-text"),
    armed: card.querySelector(".weapons").classes.has("armed"),
    location: shown(card, ".location"),
    suspect: shown(card, ".suspect-name"),
    case: shown(card, ".case"),
    times: shown(card, ".times"),
    addresses: card.querySelector(".addresses tbody").children.map((row) => row.text),
    unreadable: shown(card, ".unreadable-text"),
    unreadable_facts: shown(card, ".unreadable-facts"),
  })),
}));
