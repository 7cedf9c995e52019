// The CIC console: listens to the alarm stream and shows each alarm at once.
// Data is only ever put into the page as text (never as HTML).
"use strict";

const STREAM = "/api/v1/console/stream";
const RETRY_MS = 5000;

const list = document.getElementById("alarms");
const empty = document.getElementById("empty");
const statusBadge = document.getElementById("status");
const template = document.getElementById("alarm-card");
const cards = new Map(); // alarm_id -> article
let sound = false;
let audio = null;

function setStatus(text, kind) {
  statusBadge.textContent = text;
  statusBadge.className = "status " + kind;
}

function time(iso) {
  if (!iso) return "unknown";
  const d = new Date(iso);
  const ms = String(d.getMilliseconds()).padStart(3, "0");
  return d.toLocaleDateString("nl-BE") + " " + d.toLocaleTimeString("nl-BE", { hour12: false }) + "." + ms;
}

function fill(card, selector, text) {
  card.querySelector(selector).textContent = text;
}

function definitions(dl, rows) {
  dl.replaceChildren();
  for (const [term, value] of rows) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = value ?? "–";
    dl.append(dt, dd);
  }
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function personText(person) {
  if (person.confidential) {
    return "CONFIDENTIAL – national register number " + person.national_register_number;
  }
  return person.name + " – " + person.phone_number;
}

function render(card, alarm) {
  card.classList.toggle("test", alarm.test);
  fill(card, ".headline", alarm.headline);
  fill(card, ".banner-person", personText(alarm.person));
  fill(card, ".banner-time", "pressed " + time(alarm.pressed_at || alarm.received_at));

  const person = card.querySelector(".person");
  person.replaceChildren();
  if (alarm.person.confidential) {
    person.textContent = personText(alarm.person);
  } else {
    // The number on a line of its own, never broken: the operator may have to call it.
    const phone = document.createElement("span");
    phone.className = "phone";
    phone.textContent = alarm.person.phone_number;
    person.append(document.createTextNode(alarm.person.name), phone);
  }
  person.classList.toggle("confidential", alarm.person.confidential);
  fill(card, ".battery", "Button battery: " + (alarm.battery_mv / 1000).toFixed(2) + " V");

  const where = card.querySelector(".location");
  where.replaceChildren();
  const loc = alarm.location;
  if (loc) {
    const accuracy = loc.accuracy_m == null ? "" : " ±" + Math.round(loc.accuracy_m) + " m";
    where.append(
      link(loc.geo, loc.lat.toFixed(5) + ", " + loc.lon.toFixed(5)),
      document.createTextNode(accuracy + " (fix " + time(loc.fix_at) + ")"),
    );
  } else {
    where.textContent = "No location from the phone yet: ask the caller, check the addresses below.";
  }

  const suspect = alarm.case.suspect;
  const weapons = card.querySelector(".weapons");
  const armed = Boolean(suspect && suspect.weapons.possession);
  weapons.classList.toggle("armed", armed);
  fill(card, ".weapons-text", armed
    ? "YES – " + (suspect.weapons.description || "possession of weapons recorded")
    : "No weapons known");
  fill(card, ".suspect-name", suspect ? suspect.name : "No suspect recorded");
  fill(card, ".suspect-record", suspect ? suspect.record : "");

  definitions(card.querySelector(".case"), [
    ["Reference", alarm.case.reference],
    ["Managing zone", alarm.case.managing_zone],
    ["Judicial district", alarm.case.judicial_district],
    ["Decided on", alarm.case.decided_on],
    ["Ends on", alarm.case.ends_on],
    ["Device", alarm.device_id + " #" + alarm.counter],
  ]);
  definitions(card.querySelector(".times"), [
    ["Pressed", alarm.pressed_at ? time(alarm.pressed_at) : "unknown (button clock not set)"],
    ["Received by phone", time(alarm.received_at)],
    ["Committed", time(alarm.committed_at)],
    ["Shown", time(alarm.pushed_at)],
  ]);

  const rows = card.querySelector(".addresses tbody");
  rows.replaceChildren();
  for (const address of alarm.person.addresses) {
    const tr = document.createElement("tr");
    const kind = document.createElement("td");
    const text = document.createElement("td");
    const place = document.createElement("td");
    kind.textContent = address.kind;
    text.textContent = address.address +
      (address.valid_from ? " (" + address.valid_from + " to " + address.valid_until + ")" : "");
    if (address.geo) place.append(link(address.geo, "map"));
    tr.append(kind, text, place);
    rows.append(tr);
  }
}

function beep() {
  if (!sound) return;
  audio = audio || new AudioContext();
  const tone = audio.createOscillator();
  tone.frequency.value = 880;
  tone.connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.8);
}

function show(alarm) {
  let card = cards.get(alarm.alarm_id);
  const isNew = !card;
  if (isNew) {
    card = template.content.firstElementChild.cloneNode(true);
    cards.set(alarm.alarm_id, card);
    list.prepend(card);
  }
  render(card, alarm);
  empty.hidden = cards.size > 0;
  if (isNew && !alarm.test) {
    card.classList.add("new");
    document.title = "STALKING ALARM – msa CIC console";
    beep();
  }
}

function connect() {
  setStatus("connecting…", "connecting");
  const source = new EventSource(STREAM);
  source.addEventListener("alarm", (message) => show(JSON.parse(message.data)));
  source.addEventListener("ready", () => setStatus("live", "live"));
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // Refused (e.g. logged out) or the server is gone: try again later.
      setStatus("disconnected – retrying", "lost");
      setTimeout(connect, RETRY_MS);
    } else {
      setStatus("reconnecting…", "lost");
    }
  };
}

document.getElementById("sound").addEventListener("click", (event) => {
  sound = !sound;
  event.target.textContent = "Sound: " + (sound ? "on" : "off");
  if (sound) beep();
});
window.addEventListener("focus", () => { document.title = "msa - CIC console"; });
connect();
