"""The SQL text of the store's queries, and how their rows become records.

Written once for both engines (PostgreSQL's `$1` parameters; the SQLite
connection renumbers them). `{where}` in the alarm queries is filled by
`SqlStore` with a fixed condition, never with input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from msa.backend import zones
from msa.backend.store.base import (
    Address,
    Alarm,
    Case,
    HistoryEntry,
    Location,
    Notification,
    Person,
    Suspect,
    TrailPoint,
    UnreadableAlarm,
    Workflow,
    ZoneArea,
)

Row = dict[str, Any]


@lru_cache(maxsize=64)
def ingest_contexts(rows: int) -> str:
    """What judging a frame needs (the phone behind a token, the device it names, its
    key of the epoch asked or of the token's) for `rows` asked (n, token's SHA-256,
    device id, epoch) at once; each found row carries its `n`."""
    asked = ", ".join(
        f"(CAST(${4 * r + 1} AS BIGINT), CAST(${4 * r + 2} AS TEXT),"
        f" CAST(${4 * r + 3} AS BIGINT), CAST(${4 * r + 4} AS INTEGER))"
        for r in range(rows)
    )
    return f"""
WITH asked (n, token_sha256, device_id, epoch) AS (VALUES {asked})
SELECT asked.n, ph.id AS phone_id, ph.device_id AS linked_device_id, pt.epoch AS token_epoch,
       d.device_id, d.status AS device_status,
       k.epoch AS key_epoch, k.mac_key_wrapped, k.kek_id, k.status AS key_status,
       p.id AS person_id, p.case_id
FROM asked
JOIN phone_tokens pt ON pt.token_sha256 = asked.token_sha256
JOIN phones ph ON ph.id = pt.phone_id
LEFT JOIN devices d ON d.device_id = asked.device_id
LEFT JOIN device_keys k ON k.device_id = d.device_id AND k.epoch = COALESCE(asked.epoch, pt.epoch)
LEFT JOIN persons p ON p.id = COALESCE(d.person_id, ph.person_id)"""


FRAME_COLUMNS = (
    "device_id", "counter", "type", "raw", "time_s", "battery_mv", "uptime_s", "phone_id",
    "received_at", "committed_at", "lat", "lon", "accuracy_m", "fix_at", "battery_pct", "flags",
    "waiting", "waiting_alarms",
)  # fmt: skip


def value_rows(rows: int, width: int) -> str:
    """`rows` parenthesised rows of `width` parameters, numbered on: ($1, $2), ($3, $4)."""
    return ", ".join(
        "(" + ", ".join(f"${row * width + column + 1}" for column in range(width)) + ")"
        for row in range(rows)
    )


@lru_cache(maxsize=64)
def insert_frames(rows: int) -> str:
    """One INSERT of `rows` frames (FRAME_COLUMNS each); a row whose
    (device_id, counter) is taken already is skipped, the others returned."""
    return (
        f"INSERT INTO frames ({', '.join(FRAME_COLUMNS)})\n"
        f"VALUES {value_rows(rows, len(FRAME_COLUMNS))}\n"
        "ON CONFLICT (device_id, counter) DO NOTHING\n"
        "RETURNING id, device_id, counter"
    )


@lru_cache(maxsize=64)
def insert_audit(rows: int) -> str:
    """One INSERT of `rows` audit entries (at, actor, action, subject, case_id, detail)."""
    return (
        "INSERT INTO audit (at, actor, action, subject, case_id, detail)\n"
        f"VALUES {value_rows(rows, 6)}"
    )


COMMITTED_FRAME = """
SELECT f.id, f.raw, f.committed_at, a.id AS alarm_id
FROM frames f LEFT JOIN alarms a ON a.frame_id = f.id
WHERE f.device_id = $1 AND f.counter = $2"""

INSERT_ALARM = """
INSERT INTO alarms (frame_id, kind, status, person_id, case_id, pressed_at)
VALUES ($1, $2, 'open', $3, $4, $5)
RETURNING id"""

ALARMS = """
SELECT a.id, a.kind, a.status, a.pressed_at, a.revision,
       a.acknowledged_at, oa.name AS acknowledged_by, a.dispatched_at, od.name AS dispatched_by,
       a.patrol, pz.name AS patrol_zone, a.on_scene_at, os.name AS on_scene_by,
       a.closed_at, oc.name AS closed_by, a.outcome, a.pv_number, c.support_started_on,
       f.device_id, f.counter, f.battery_mv, f.received_at, f.committed_at,
       f.lat, f.lon, f.accuracy_m, f.fix_at,
       p.id AS person_id, p.full_name, p.phone_number, p.national_register_number,
       p.confidential,
       c.id AS case_id, c.reference, c.status AS case_status, c.decided_on, c.ends_on,
       z.name AS managing_zone, jd.name AS judicial_district,
       s.full_name AS suspect_name, s.record, s.has_weapons, s.weapons
FROM alarms a
JOIN frames f ON f.id = a.frame_id
JOIN persons p ON p.id = a.person_id
JOIN cases c ON c.id = a.case_id
JOIN police_zones z ON z.id = c.managing_zone_id
JOIN judicial_districts jd ON jd.id = c.district_id
LEFT JOIN suspects s ON s.case_id = c.id
LEFT JOIN operators oa ON oa.id = a.acknowledged_by
LEFT JOIN operators od ON od.id = a.dispatched_by
LEFT JOIN operators os ON os.id = a.on_scene_by
LEFT JOIN operators oc ON oc.id = a.closed_by
LEFT JOIN police_zones pz ON pz.id = a.patrol_zone_id
WHERE {where}
ORDER BY a.id"""

# What identifies an alarm, for when it cannot be loaded whole (an `UnreadableAlarm`).
ALARM_KEYS = """
SELECT a.id, a.revision, a.kind, a.status, f.device_id, a.person_id, a.case_id
FROM alarms a
LEFT JOIN frames f ON f.id = a.frame_id
WHERE {where}
ORDER BY a.id"""


def alarm_ids(count: int) -> str:
    """The condition on `count` alarm ids, parameters $1 to $count."""
    if count == 1:
        return "a.id = $1"  # the text of `Store.alarm`'s: one cached statement for both
    return f"a.id IN ({', '.join(f'${n}' for n in range(1, count + 1))})"


# The protected persons of the alarms' cases (each alarm's own is left out when mapped).
CASE_PERSONS = """
SELECT id, case_id, full_name, phone_number, national_register_number, confidential
FROM persons
WHERE case_id IN (SELECT a.case_id FROM alarms a WHERE {where})
ORDER BY id"""

ALARM_TRAIL = """
SELECT alarm_id, lat, lon, accuracy_m, fix_at, received_at
FROM alarm_locations
WHERE alarm_id IN (SELECT a.id FROM alarms a WHERE {where})
ORDER BY fix_at, id"""

# The workflow's actions on the alarms (not the deliveries and reads: GET …/audit has those).
ALARM_HISTORY = """
SELECT au.subject, au.at, au.actor, o.name AS actor_name, au.action, au.detail
FROM audit au
LEFT JOIN operators o ON au.actor = 'operator:' || o.id
WHERE au.subject IN (SELECT 'alarm:' || a.id FROM alarms a WHERE {where})
  AND au.action NOT IN ('alarm.push', 'alarm.read')
ORDER BY au.id"""

# The columns of a `Notification`, for the mailer's queue and the alarm's mails.
NOTIFICATION_COLUMNS = (
    "id, alarm_id, recipient, subject, body, created_at, attempts, next_attempt_at,"
    " last_error, sent_at"
)

ALARM_NOTIFICATIONS = f"""
SELECT {NOTIFICATION_COLUMNS}
FROM notifications
WHERE alarm_id IN (SELECT a.id FROM alarms a WHERE {{where}})"""

ZONE_AREAS = """
SELECT z.name AS zone, za.south, za.west, za.north, za.east
FROM zone_areas za JOIN police_zones z ON z.id = za.zone_id
ORDER BY za.id"""

ALARM_ADDRESSES = """
SELECT person_id, kind, address, valid_from, valid_until, lat, lon
FROM addresses
WHERE person_id IN (SELECT a.person_id FROM alarms a WHERE {where})
ORDER BY id"""


def alarm_reads(where: str, args: tuple[object, ...]) -> list[tuple[str, tuple[object, ...]]]:
    """ALARMS and its companion queries for `where`, with their arguments, in the
    order of `AlarmRows`' fields."""
    companions = (ALARM_ADDRESSES, ALARM_TRAIL, ALARM_HISTORY, ALARM_NOTIFICATIONS)
    return [
        (ALARMS.format(where=where), args),
        *((sql.format(where=where), args) for sql in companions),
        (ZONE_AREAS, ()),
        (CASE_PERSONS.format(where=where), args),
    ]


@dataclass(frozen=True, slots=True)
class AlarmRows:
    """The rows of ALARMS and its companion queries, for one `where`."""

    alarms: list[Row]
    addresses: list[Row]
    trail: list[Row]
    history: list[Row]
    notifications: list[Row]
    zones: list[Row]
    persons: list[Row]


def alarms_from_rows(found: AlarmRows) -> list[Alarm | UnreadableAlarm]:
    """Alarms with their addresses, trail, history, notification and intervention zone;
    an alarm whose rows do not make an `Alarm` is an `UnreadableAlarm`, alone."""
    addresses: dict[int, list[Address]] = {}
    for a in found.addresses:
        address = Address(
            a["kind"], a["address"], a["valid_from"], a["valid_until"], a["lat"], a["lon"]
        )
        addresses.setdefault(a["person_id"], []).append(address)
    trails: dict[int, list[TrailPoint]] = {}
    for t in found.trail:
        point = TrailPoint(
            t["lat"], t["lon"], t["accuracy_m"], t["fix_at"], t["received_at"], "update"
        )
        trails.setdefault(t["alarm_id"], []).append(point)
    history: dict[str, list[HistoryEntry]] = {}
    for h in found.history:
        entry = HistoryEntry(h["at"], h["actor"], h["actor_name"], h["action"], h["detail"])
        history.setdefault(h["subject"], []).append(entry)
    notifications = {n["alarm_id"]: Notification(**n) for n in found.notifications}
    areas = [ZoneArea(**z) for z in found.zones]
    persons: dict[int, list[Person]] = {}
    for p in found.persons:
        person = Person(
            p["id"],
            p["full_name"],
            p["phone_number"],
            p["national_register_number"],
            bool(p["confidential"]),
            (),
        )
        persons.setdefault(p["case_id"], []).append(person)
    alarms: list[Alarm | UnreadableAlarm] = []
    for row in found.alarms:
        try:
            alarm: Alarm | UnreadableAlarm = _alarm(
                row,
                tuple(p for p in persons.get(row["case_id"], ()) if p.id != row["person_id"]),
                tuple(addresses.get(row["person_id"], ())),
                trails.get(row["id"], []),
                tuple(history.get(f"alarm:{row['id']}", ())),
                notifications.get(row["id"]),
                areas,
            )
        except Exception as error:  # a value no `Alarm` can hold: this alarm alone fails
            alarm = unreadable(row, describe(error))
        alarms.append(alarm)
    return alarms


def unreadable(row: Row, error: str) -> UnreadableAlarm:
    """What can be read of an alarm's row (ALARMS or ALARM_KEYS) that failed to
    load with `error` (as `describe` puts it)."""

    def whole(key: str) -> int | None:
        value = row.get(key)
        return value if type(value) is int else None

    def text(key: str) -> str | None:
        value = row.get(key)
        return value if isinstance(value, str) else None

    return UnreadableAlarm(
        row["id"],
        whole("revision"),
        text("kind"),
        text("status"),
        whole("device_id"),
        whole("person_id"),
        whole("case_id"),
        error,
    )


def describe(error: BaseException) -> str:
    """An error in one line, for a log and an error card: `OverflowError: …`."""
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]


def _alarm(
    row: Row,
    others: tuple[Person, ...],
    addresses: tuple[Address, ...],
    updates: list[TrailPoint],
    history: tuple[HistoryEntry, ...],
    notification: Notification | None,
    areas: list[ZoneArea],
) -> Alarm:
    trail = list(updates)
    if row["lat"] is not None:  # the fix that came with the alarm comes first
        first = TrailPoint(
            row["lat"], row["lon"], row["accuracy_m"], row["fix_at"], row["received_at"], "alarm"
        )
        trail.insert(0, first)
    location = None
    if trail:
        last = trail[-1]
        location = Location(last.lat, last.lon, last.accuracy_m, last.fix_at)
    suspect = None
    if row["suspect_name"] is not None:
        suspect = Suspect(
            row["suspect_name"], row["record"], bool(row["has_weapons"]), row["weapons"]
        )
    person = Person(
        row["person_id"],
        row["full_name"],
        row["phone_number"],
        row["national_register_number"],
        bool(row["confidential"]),  # SQLite keeps booleans as 0/1
        addresses,
    )
    case = Case(
        row["case_id"],
        row["reference"],
        row["case_status"],
        row["decided_on"],
        row["ends_on"],
        row["managing_zone"],
        row["judicial_district"],
        suspect,
        row["support_started_on"],
        others,
    )
    workflow = Workflow(
        row["acknowledged_at"],
        row["acknowledged_by"],
        row["dispatched_at"],
        row["dispatched_by"],
        row["patrol"],
        row["patrol_zone"],
        row["on_scene_at"],
        row["on_scene_by"],
        row["closed_at"],
        row["closed_by"],
        row["outcome"],
        row["pv_number"],
    )
    return Alarm(
        row["id"],
        row["kind"],
        row["status"],
        row["device_id"],
        row["counter"],
        row["battery_mv"],
        row["pressed_at"],
        row["received_at"],
        row["committed_at"],
        location,
        person,
        case,
        row["revision"],
        workflow,
        tuple(trail),
        None if location is None else zones.locate(areas, location.lat, location.lon),
        history,
        notification,
    )
