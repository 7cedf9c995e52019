"""The store's side of the zones' daily reports (msa/backend/daily_report.py).

A report is read in four queries over its zone's active cases, each index-led:
the persons with their button's latest frame and heartbeat before the period's
end (the frames' (device_id, counter) index, newest first) and whether their phone
checked in (check_ins' (phone_id, checked_in_at)); the alarms; the Bluetooth-off
periods overlapping the period. It is stored with its mail in one transaction:
(zone, day) is its identity, so a report is made and mailed once.
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from msa.backend import zones
from msa.backend.daily_report import (
    AlarmSeen,
    Period,
    PersonLine,
    Report,
    Schedule,
    StoredReport,
    parse_send_at,
    period,
)
from msa.backend.store.sql import Connection, fetchrow
from msa.timefmt import now_ms, to_iso

_PERSONS = """
SELECT p.id AS person_id, p.full_name, p.phone_number, p.national_register_number,
       p.confidential, c.reference, d.device_id,
       (SELECT f.committed_at FROM frames f WHERE f.device_id = d.device_id
          AND f.committed_at < $3 ORDER BY f.counter DESC LIMIT 1) AS last_frame_at,
       (SELECT f.battery_pct FROM frames f WHERE f.device_id = d.device_id AND f.type = 3
          AND f.committed_at < $3 ORDER BY f.counter DESC LIMIT 1) AS battery_pct,
       EXISTS (SELECT 1 FROM check_ins ci WHERE ci.phone_id = ph.id
          AND ci.checked_in_at >= $2 AND ci.checked_in_at < $3) AS phone_online
FROM persons p
JOIN cases c ON c.id = p.case_id
LEFT JOIN devices d ON d.person_id = p.id AND d.status = 'active'
LEFT JOIN phones ph ON ph.device_id = d.device_id
WHERE c.managing_zone_id = $1 AND c.status = 'active'
ORDER BY c.reference, p.id, d.device_id"""

_ALARMS = """
SELECT a.person_id, f.committed_at, f.lat, f.lon, a.outcome
FROM alarms a JOIN frames f ON f.id = a.frame_id JOIN cases c ON c.id = a.case_id
WHERE c.managing_zone_id = $1 AND c.status = 'active' AND a.kind = 'alarm'
  AND f.committed_at >= $2 AND f.committed_at < $3
ORDER BY f.committed_at"""

_BLUETOOTH_OFF = """
SELECT ph.person_id, r.off_at, r.on_at
FROM link_reports r
JOIN phones ph ON ph.id = r.phone_id
JOIN persons p ON p.id = ph.person_id
JOIN cases c ON c.id = p.case_id
WHERE c.managing_zone_id = $1 AND c.status = 'active'
  AND r.off_at < $3 AND (r.on_at IS NULL OR r.on_at > $2)"""

_STORED = """
SELECT r.id, z.name AS zone, r.day, r.created_at, r.persons, r.irregular, n.sent_at AS mailed_at
FROM zone_reports r JOIN police_zones z ON z.id = r.zone_id
LEFT JOIN notifications n ON n.id = r.notification_id"""


class ReportSql:
    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    if TYPE_CHECKING:

        def _reading(self, urgent: bool = False) -> AbstractAsyncContextManager[Connection]: ...

        def _background_reading(self) -> AbstractAsyncContextManager[Connection]: ...

    async def set_report_schedule(self, zone: str, send_at: str, email: str, since: str) -> bool:
        parse_send_at(send_at)
        async with self._transaction() as conn:
            row = await fetchrow(conn, "SELECT id FROM police_zones WHERE name = $1", zone)
            if row is None:
                return False
            await conn.execute(
                "INSERT INTO zone_report_schedules (zone_id, send_at, email, since_day, updated_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (zone_id) DO UPDATE SET"
                " send_at = excluded.send_at, email = excluded.email,"
                " updated_at = excluded.updated_at",
                int(row["id"]), send_at, email, since, now_ms(),
            )  # fmt: skip
        return True

    async def zone_name(self, zone_id: int) -> str | None:
        async with self._reading() as conn:
            row = await fetchrow(conn, "SELECT name FROM police_zones WHERE id = $1", zone_id)
        return None if row is None else str(row["name"])

    async def report_schedules(self) -> list[Schedule]:
        async with self._reading() as conn:
            rows = await conn.fetch(
                "SELECT s.zone_id, z.name AS zone, s.send_at, s.email, s.since_day,"
                " (SELECT max(r.day) FROM zone_reports r WHERE r.zone_id = s.zone_id) AS last_day"
                " FROM zone_report_schedules s JOIN police_zones z ON z.id = s.zone_id"
                " ORDER BY s.zone_id"
            )
        return [
            Schedule(
                int(r["zone_id"]),
                r["zone"],
                parse_send_at(r["send_at"]),
                r["email"],
                dt.date.fromisoformat(r["since_day"]),
                None if r["last_day"] is None else dt.date.fromisoformat(r["last_day"]),
            )  # fmt: skip
            for r in rows
        ]

    async def build_report(self, zone_id: int, zone: str, span: Period) -> Report:
        args = (zone_id, span.start, span.end)
        async with self._background_reading() as conn:
            people = await conn.fetch(_PERSONS, *args)
            alarms = await conn.fetch(_ALARMS, *args)
            off = await conn.fetch(_BLUETOOTH_OFF, *args)
        areas = await self.zone_areas() if alarms else []  # type: ignore[attr-defined]
        lines: dict[int, PersonLine] = {}
        for row in people:
            secret = bool(row["confidential"])
            device = row["device_id"]
            line = PersonLine(
                case=row["reference"],
                person=row["national_register_number"] if secret else row["full_name"],
                phone=None if secret else row["phone_number"],
                confidential=secret,
                device_id=None if device is None else f"{int(device):08x}",
                battery_pct=row["battery_pct"],
                heard_in_period=row["last_frame_at"] is not None
                and int(row["last_frame_at"]) >= span.start,
                phone_online=bool(row["phone_online"]),
            )
            lines.setdefault(int(row["person_id"]), line)
        for row in alarms:
            pressed = lines.get(int(row["person_id"]))
            if pressed is not None:
                lat, lon = row["lat"], row["lon"]
                where = None if lat is None else zones.locate(areas, lat, lon)
                at = to_iso(int(row["committed_at"]))
                pressed.alarms.append(AlarmSeen(at, lat, lon, where, row["outcome"]))
        for row in off:
            person = lines.get(int(row["person_id"]))
            if person is not None:
                on_at = span.end if row["on_at"] is None else min(int(row["on_at"]), span.end)
                off_at = max(int(row["off_at"]), span.start)
                person.bluetooth_off_times += 1
                person.bluetooth_off_minutes += (on_at - off_at) // 60_000
        for line in lines.values():
            line.judge()
        return Report(
            zone, span.day.isoformat(), to_iso(span.start), to_iso(span.end), list(lines.values())
        )

    async def make_report(self, schedule: Schedule, day: dt.date, now: int) -> int | None:
        span = period(day, schedule.send_at)
        report = await self.build_report(schedule.zone_id, schedule.zone, span)
        subject, text = report.mail()
        async with self._transaction() as conn:
            made = await fetchrow(
                conn,
                "INSERT INTO zone_reports (zone_id, day, period_start, period_end, created_at,"
                " persons, irregular, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (zone_id, day) DO NOTHING RETURNING id",
                schedule.zone_id, report.day, span.start, span.end, now, len(report.lines),
                report.irregular, report.body(),
            )  # fmt: skip
            if made is None:
                return None  # made before (by another backend, or a round that crashed after)
            mail = await fetchrow(
                conn,
                "INSERT INTO notifications (alarm_id, recipient, subject, body, created_at,"
                " next_attempt_at) VALUES (NULL, $1, $2, $3, $4, $4) RETURNING id",
                schedule.email, subject, text, now,
            )  # fmt: skip
            assert mail is not None
            await conn.execute(
                "UPDATE zone_reports SET notification_id = $2 WHERE id = $1",
                int(made["id"]), int(mail["id"]),
            )  # fmt: skip
        return int(made["id"])

    async def zone_reports(self, zone_id: int | None, limit: int = 60) -> list[StoredReport]:
        where = "" if zone_id is None else " WHERE r.zone_id = $2"
        args: tuple[object, ...] = (limit,) if zone_id is None else (limit, zone_id)
        async with self._reading() as conn:
            rows = await conn.fetch(
                _STORED + where + " ORDER BY r.day DESC, r.id DESC LIMIT $1", *args
            )
        return [StoredReport(**dict(row)) for row in rows]

    async def zone_report(self, report_id: int) -> tuple[int, Report] | None:
        async with self._reading() as conn:
            row = await fetchrow(
                conn, "SELECT zone_id, body FROM zone_reports WHERE id = $1", report_id
            )
        return None if row is None else (int(row["zone_id"]), Report.from_body(row["body"]))
