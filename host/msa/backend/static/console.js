// The CIC console: listens to the alarm stream, shows each alarm at once, and
// takes the operator's workflow steps. The backend decides what is allowed: a
// refused step shows its reason. Data is only ever put into the page as text.
"use strict";

const STREAM = "/api/v1/console/stream";
const ALARMS = "/api/v1/alarms/";
const RETRY_MS = 5000;
const STATES = {
  open: "OPEN – not acknowledged",
  acknowledged: "ACKNOWLEDGED – send a patrol",
  dispatched: "PATROL DISPATCHED",
  on_scene: "PATROL ON SCENE",
  closed: "CLOSED",
};
const TEST_STATES = { open: "OPEN – not acknowledged", acknowledged: "ACKNOWLEDGED – confirm the test", closed: "TEST CONFIRMED" };
const ACTIONS = {
  "alarm.acknowledge": "acknowledged",
  "alarm.dispatch": "patrol dispatched",
  "alarm.on_scene": "patrol on scene",
  "alarm.close": "closed",
  "alarm.confirm_test": "test alarm confirmed",
  "case.extend": "measure extended",
  "case.support_start": "support started",
  "magistrate.notified": "magistrate notified",
};

const list = document.getElementById("alarms");
const empty = document.getElementById("empty");
const statusBadge = document.getElementById("status");
const template = document.getElementById("alarm-card");
const cards = new Map(); // alarm_id -> article
const shown = new Map(); // alarm_id -> the alarm as last rendered
let zones = [];
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
  // An alarm the backend cannot display comes as an error card (display_error):
  // still an alarm, with what is known of it and its workflow buttons.
  card.classList.toggle("unreadable", Boolean(alarm.display_error));
  if (alarm.display_error) {
    renderUnreadable(card, alarm);
    return;
  }
  card.classList.toggle("test", alarm.test);
  card.classList.toggle("closed", alarm.status === "closed");
  card.dataset.status = alarm.status;
  fill(card, ".headline", alarm.headline);
  const closed = alarm.workflow.closed;
  fill(card, ".state", (alarm.test ? TEST_STATES : STATES)[alarm.status] +
    (closed && !alarm.test ? " – " + closed.outcome : ""));
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
  const zonesList = card.querySelector(".zones");
  definitions(zonesList, [
    ["Intervention zone", alarm.intervention_zone || "unknown (no fix, or outside every known zone)"],
    ["Managing zone", alarm.case.managing_zone],
  ]);
  zonesList.classList.toggle("elsewhere",
    Boolean(alarm.intervention_zone) && alarm.intervention_zone !== alarm.case.managing_zone);
  renderTrail(card, alarm);
  renderWorkflow(card, alarm);
  renderAudit(card, alarm);

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
    ["Support since", alarm.case.support_started_on || "no confirmed test alarm yet"],
    ["Also protected", alarm.case.other_persons.map(personText).join("; ") || "nobody else"],
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

function renderUnreadable(card, alarm) {
  card.classList.toggle("test", alarm.test);
  card.classList.toggle("closed", alarm.status === "closed");
  card.dataset.status = alarm.status || "unknown";
  fill(card, ".headline", alarm.headline);
  fill(card, ".state", alarm.status ? (alarm.test ? TEST_STATES : STATES)[alarm.status] : "STATE UNKNOWN");
  fill(card, ".banner-person", alarm.advice);
  fill(card, ".banner-time", "");
  fill(card, ".unreadable-text", "The backend cannot display this alarm; only what identifies it is shown. " +
    "Treat it as " + (alarm.test ? "a provisioning test alarm." : "a stalking alarm: a patrol must go."));
  definitions(card.querySelector(".unreadable-facts"), [
    ["Alarm", String(alarm.alarm_id)],
    ["Case", alarm.case_id],
    ["Protected person", alarm.person_id],
    ["Button", alarm.device_id],
    ["Error", alarm.display_error],
  ]);
  const steps = card.querySelector(".steps");
  steps.replaceChildren();
  const status = document.createElement("li");
  status.textContent = "Status: " + (alarm.status || "unknown") + " (step times cannot be displayed)";
  steps.append(status);
  renderButtons(card, alarm);
  fill(card, ".magistrate", "Magistrate: unknown (the alarm cannot be displayed).");
}

function cell(tr, text) {
  const td = document.createElement("td");
  if (text instanceof Node) td.append(text); else td.textContent = text ?? "–";
  tr.append(td);
}

// The trail on a map: Web Mercator tiles from the source the backend names (its
// --tiles), else a plain grid; the points joined oldest to newest, the newest ringed.
const TILES = document.querySelector?.('meta[name="msa-tiles"]')?.content || "";
const TILE = 256;
const SVG = "http://www.w3.org/2000/svg";

function mercator(lat, lon, zoom) {
  const scale = TILE * 2 ** zoom;
  const sin = Math.sin((lat * Math.PI) / 180);
  const y = 0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI);
  return [((lon + 180) / 360) * scale, y * scale];
}

function renderMap(card, alarm) {
  const map = card.querySelector(".map");
  if (!map || !map.replaceChildren) return; // a page without the map
  map.replaceChildren();
  const points = alarm.trail.filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lon));
  map.hidden = points.length === 0;
  if (map.hidden) return;
  const width = map.clientWidth || 600;
  const height = 260;
  let zoom = 18;
  for (; zoom > 1; zoom--) {
    const xy = points.map((p) => mercator(p.lat, p.lon, zoom));
    const spanX = Math.max(...xy.map((v) => v[0])) - Math.min(...xy.map((v) => v[0]));
    const spanY = Math.max(...xy.map((v) => v[1])) - Math.min(...xy.map((v) => v[1]));
    if (spanX <= width - 60 && spanY <= height - 60) break;
  }
  const xy = points.map((p) => mercator(p.lat, p.lon, zoom));
  const left = (Math.max(...xy.map((v) => v[0])) + Math.min(...xy.map((v) => v[0])) - width) / 2;
  const top = (Math.max(...xy.map((v) => v[1])) + Math.min(...xy.map((v) => v[1])) - height) / 2;
  map.classList.toggle("grid", !TILES);
  if (TILES) {
    const last = 2 ** zoom - 1;
    for (let tx = Math.floor(left / TILE); tx * TILE < left + width; tx++) {
      for (let ty = Math.floor(top / TILE); ty * TILE < top + height; ty++) {
        if (tx < 0 || ty < 0 || tx > last || ty > last) continue;
        const img = document.createElement("img");
        img.className = "tile";
        img.alt = "";
        img.src = TILES.replace("{z}", zoom).replace("{x}", tx).replace("{y}", ty);
        img.style.left = tx * TILE - left + "px";
        img.style.top = ty * TILE - top + "px";
        map.append(img);
      }
    }
  }
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("class", "path");
  const oldestFirst = xy.map((v) => `${(v[0] - left).toFixed(1)},${(v[1] - top).toFixed(1)}`);
  line.setAttribute("points", oldestFirst.join(" "));
  const newest = document.createElementNS(SVG, "circle");
  newest.setAttribute("class", "newest");
  const [nx, ny] = xy[xy.length - 1];
  newest.setAttribute("cx", (nx - left).toFixed(1));
  newest.setAttribute("cy", (ny - top).toFixed(1));
  newest.setAttribute("r", "7");
  svg.append(line, newest);
  map.append(svg);
  map.dataset.zoom = zoom;
  map.dataset.points = points.length;
}

function renderTrail(card, alarm) {
  renderMap(card, alarm);
  const rows = card.querySelector(".trail tbody");
  rows.replaceChildren();
  for (const point of [...alarm.trail].reverse()) { // newest first
    const tr = document.createElement("tr");
    cell(tr, time(point.fix_at || point.received_at));
    cell(tr, link(point.geo, point.lat.toFixed(5) + ", " + point.lon.toFixed(5)));
    cell(tr, point.accuracy_m == null ? "unknown" : "±" + Math.round(point.accuracy_m) + " m");
    cell(tr, time(point.received_at) + (point.source === "alarm" ? " (with the alarm)" : ""));
    rows.append(tr);
  }
}

function renderAudit(card, alarm) {
  const rows = card.querySelector(".audit tbody");
  rows.replaceChildren();
  for (const entry of alarm.history) {
    const tr = document.createElement("tr");
    cell(tr, time(entry.at));
    cell(tr, entry.by);
    cell(tr, ACTIONS[entry.action] || entry.action);
    cell(tr, entry.detail || "");
    rows.append(tr);
  }
}

function stepLine(label, step, extra) {
  const li = document.createElement("li");
  li.classList.toggle("done", Boolean(step));
  li.textContent = label + ": " + (step ? time(step.at) + " by " + step.by + (extra ? " – " + extra : "") : "–");
  return li;
}

function renderWorkflow(card, alarm) {
  const flow = alarm.workflow;
  const steps = card.querySelector(".steps");
  steps.replaceChildren(stepLine("Acknowledged", flow.acknowledged));
  if (alarm.test) {
    steps.append(stepLine("Test confirmed", flow.closed));
  } else {
    const d = flow.dispatched;
    const c = flow.closed;
    steps.append(
      stepLine("Patrol dispatched", d, d && d.patrol + " (" + d.zone + ")"),
      stepLine("On scene", flow.on_scene),
      stepLine("Closed", c, c && "outcome " + c.outcome + ", PV " + (c.pv_number || "none")),
    );
  }
  renderButtons(card, alarm);

  const m = alarm.magistrate;
  const text = {
    not_yet: "Magistrate: mailed when the alarm is closed (unless false).",
    not_required: "Magistrate: not notified (false alarm).",
    not_applicable: "Magistrate: not notified (provisioning test).",
    queued: "Magistrate: mail queued for " + m.recipient + (m.last_error ? " – not sent yet: " + m.last_error : ""),
    sent: "Magistrate notified: mail sent to " + m.recipient + " at " + time(m.sent_at),
  }[m.status];
  fill(card, ".magistrate", text);
}

function renderButtons(card, alarm) {
  const next = new Set(alarm.next_steps);
  card.querySelector(".do-acknowledge").hidden = !next.has("acknowledge");
  card.querySelector(".do-dispatch").hidden = !next.has("dispatch");
  card.querySelector(".do-on-scene").hidden = !next.has("on_scene");
  // Offered until the alarm is closed: the backend refuses it without a patrol, and says so.
  card.querySelector(".do-close").hidden = alarm.test || !alarm.status || alarm.status === "closed";
  card.querySelector(".do-confirm-test").hidden = !next.has("confirm_test");
  const select = card.querySelector(".do-dispatch select");
  if (!select.dataset.touched) fillZones(select, preferredZone(alarm));
}

// The zone the dispatch form offers first: where the phone is, else the case's zone.
function preferredZone(alarm) {
  if (alarm.display_error) return undefined;
  return alarm.intervention_zone || alarm.case.managing_zone;
}

function closedAt(alarm) {
  return alarm.workflow && alarm.workflow.closed ? alarm.workflow.closed.at : "";
}

function fillZones(select, preferred) {
  const names = zones.includes(preferred) || !preferred ? zones : [preferred, ...zones];
  select.replaceChildren(...names.map((name) => {
    const option = document.createElement("option");
    option.value = option.textContent = name;
    return option;
  }));
  if (preferred) select.value = preferred;
}

async function takeStep(card, step, data) {
  const error = card.querySelector(".error");
  error.textContent = "";
  let response;
  try {
    response = await fetch(ALARMS + card.dataset.alarmId + "/" + step, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data || {}),
      credentials: "same-origin",
    });
  } catch (failure) {
    error.textContent = "Not sent (the backend cannot be reached): try again.";
    return;
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    error.textContent = "Refused: " + (answer.detail || response.statusText);
    return;
  }
  show(answer.alarm);
}

function wire(card) {
  card.querySelector(".do-acknowledge").addEventListener("click", () => takeStep(card, "acknowledge"));
  card.querySelector(".do-on-scene").addEventListener("click", () => takeStep(card, "on-scene"));
  card.querySelector(".do-confirm-test").addEventListener("click", () => takeStep(card, "confirm-test"));
  const dispatch = card.querySelector(".do-dispatch");
  dispatch.querySelector("select").addEventListener("change", (event) => { event.target.dataset.touched = "1"; });
  dispatch.addEventListener("submit", (event) => {
    event.preventDefault();
    takeStep(card, "dispatch", { patrol: dispatch.elements.patrol.value, zone: dispatch.elements.zone.value });
  });
  const close = card.querySelector(".do-close");
  close.addEventListener("submit", (event) => {
    event.preventDefault();
    takeStep(card, "close", { outcome: close.elements.outcome.value, pv_number: close.elements.pv_number.value });
  });
}

// Open alarms first, oldest first (stalking alarms before provisioning tests);
// then the closed ones, the latest closed first.
function order() {
  const alarms = [...shown.values()];
  const open = alarms.filter((a) => a.status !== "closed")
    .sort((a, b) => (a.test - b.test) || (a.alarm_id - b.alarm_id));
  const closed = alarms.filter((a) => a.status === "closed")
    .sort((a, b) => closedAt(b).localeCompare(closedAt(a)));
  const wanted = [...open, ...closed].map((a) => cards.get(a.alarm_id));
  const current = [...list.children];
  if (wanted.every((card, i) => current[i] === card)) return;
  const focused = document.activeElement;
  list.append(...wanted);
  if (focused && list.contains(focused)) focused.focus();
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
  const before = shown.get(alarm.alarm_id);
  if (before && before.revision > alarm.revision) return; // an older state, overtaken
  let card = cards.get(alarm.alarm_id);
  const isNew = !card;
  if (isNew) {
    card = template.content.firstElementChild.cloneNode(true);
    card.dataset.alarmId = alarm.alarm_id;
    card.setAttribute("aria-label", alarm.headline + " " + alarm.alarm_id);
    wire(card);
    cards.set(alarm.alarm_id, card);
    list.append(card);
  }
  shown.set(alarm.alarm_id, { ...alarm, pushed_at: before ? before.pushed_at : alarm.pushed_at });
  render(card, shown.get(alarm.alarm_id));
  order();
  empty.hidden = [...shown.values()].some((a) => a.status !== "closed");
  if (isNew && !alarm.test && alarm.status !== "closed") {
    card.classList.add("new");
    document.title = "STALKING ALARM – msa CIC console";
    beep();
  }
}

const notices = new Set();  // security event ids shown

function showSecurity(notice) {
  // A lost or stolen button was pressed: whoever holds it is news (the suspect?).
  if (notices.has(notice.id)) return;
  notices.add(notice.id);
  const item = document.createElement("li");
  item.dataset.id = notice.id;
  const when = document.createElement("strong");
  when.textContent = time(notice.at);
  item.append(when, " ", notice.text);
  if (notice.case_reference) item.append(" Case " + notice.case_reference + ".");
  document.getElementById("security-list").prepend(item);
  document.getElementById("security").hidden = false;
}

function connect() {
  setStatus("connecting…", "connecting");
  const source = new EventSource(STREAM);
  source.addEventListener("alarm", (message) => show(JSON.parse(message.data)));
  source.addEventListener("update", (message) => show(JSON.parse(message.data)));
  source.addEventListener("ready", () => setStatus("live", "live"));
  source.addEventListener("security", (message) => showSecurity(JSON.parse(message.data)));
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

async function loadZones() {
  try {
    const response = await fetch("/api/v1/zones", { credentials: "same-origin" });
    if (response.ok) zones = (await response.json()).zones;
  } catch (failure) {
    // The dispatch form still offers the alarm's own zones.
  }
  for (const [id, card] of cards) {
    const select = card.querySelector(".do-dispatch select");
    if (!select.dataset.touched) fillZones(select, preferredZone(shown.get(id)));
  }
}

// Supervision events of the cases their zones show the CIC (docs/supervision.md):
// read every 20 s; a zone officer follows the others on /zone.
const SUPERVISION_EVERY_MS = 20_000;

async function loadSupervision() {
  let events;
  try {
    const response = await fetch("/api/v1/supervision", { credentials: "same-origin" });
    if (!response.ok) return;
    events = (await response.json()).events;
  } catch (failure) {
    return; // the next round tries again
  }
  const list = document.getElementById("supervision-list");
  list.replaceChildren(...events.map((event) => {
    const item = document.createElement("li");
    item.dataset.event = event.id;
    const what = document.createElement("strong");
    what.textContent = event.kind.replaceAll("_", " ");
    item.append(what, document.createTextNode(
      ` — ${event.person} (${event.case}, ${event.zone}) since ${time(event.since)}: ${event.detail}. ${event.advice}`,
    ));
    if (event.acknowledged_at == null) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Acknowledge";
      button.addEventListener("click", async () => {
        button.disabled = true;
        await fetch(`/api/v1/supervision/${event.id}/acknowledge`, {
          method: "POST", credentials: "same-origin",
        }).catch(() => null);
        loadSupervision();
      });
      item.append(" ", button);
    } else {
      item.append(` (acknowledged by ${event.acknowledged_by})`);
    }
    return item;
  }));
  document.getElementById("supervision").hidden = events.length === 0;
}

loadZones();
loadSupervision();
setInterval(loadSupervision, SUPERVISION_EVERY_MS);
connect();
