"""The SQL text of the store's queries, and how their rows become records.

Written once for both engines (PostgreSQL's `$1` parameters; the SQLite
connection renumbers them). `{where}` in the alarm queries is filled by
`SqlStore` with a fixed condition, never with input.
"""

from __future__ import annotations

from typing import Any

from msa.backend.store.base import Address, Alarm, Case, Location, Person, Suspect

Row = dict[str, Any]

INGEST_CONTEXT = """
SELECT ph.id AS phone_id, ph.device_id AS linked_device_id,
       d.device_id, d.mac_key, d.status AS device_status,
       p.id AS person_id, p.case_id
FROM phones ph
LEFT JOIN devices d ON d.device_id = $2
LEFT JOIN persons p ON p.id = COALESCE(d.person_id, ph.person_id)
WHERE ph.token_sha256 = $1"""

INSERT_FRAME = """
INSERT INTO frames (device_id, counter, type, raw, time_s, battery_mv, uptime_s, phone_id,
                    received_at, committed_at, lat, lon, accuracy_m, fix_at,
                    battery_pct, flags)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (device_id, counter) DO NOTHING
RETURNING id"""

COMMITTED_FRAME = """
SELECT f.id, f.raw, f.committed_at, a.id AS alarm_id
FROM frames f LEFT JOIN alarms a ON a.frame_id = f.id
WHERE f.device_id = $1 AND f.counter = $2"""

INSERT_ALARM = """
INSERT INTO alarms (frame_id, kind, status, person_id, case_id, pressed_at)
VALUES ($1, $2, 'open', $3, $4, $5)
RETURNING id"""

ALARMS = """
SELECT a.id, a.kind, a.status, a.pressed_at,
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
WHERE {where}
ORDER BY a.id"""

ALARM_ADDRESSES = """
SELECT person_id, kind, address, valid_from, valid_until, lat, lon
FROM addresses
WHERE person_id IN (SELECT a.person_id FROM alarms a WHERE {where})
ORDER BY id"""


def alarms_from_rows(rows: list[Row], address_rows: list[Row]) -> list[Alarm]:
    """Alarms from the rows of ALARMS and of ALARM_ADDRESSES (same `where`)."""
    addresses: dict[int, list[Address]] = {}
    for a in address_rows:
        address = Address(
            a["kind"], a["address"], a["valid_from"], a["valid_until"], a["lat"], a["lon"]
        )
        addresses.setdefault(a["person_id"], []).append(address)
    return [_alarm(row, tuple(addresses.get(row["person_id"], ()))) for row in rows]


def _alarm(row: Row, addresses: tuple[Address, ...]) -> Alarm:
    location = None
    if row["lat"] is not None:
        location = Location(row["lat"], row["lon"], row["accuracy_m"], row["fix_at"])
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
    )
