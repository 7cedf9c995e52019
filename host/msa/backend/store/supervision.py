"""The store's side of supervision (msa/backend/supervision.py).

A sweep has three parts, each in short transactions so that an alarm never waits
behind it for long:

1. **Fold**: the frames, check-ins and link reports committed since the last sweep
   are folded into `device_liveness` and `phone_liveness`, from per-table cursors.
   Ingest never writes these tables: the alarm path stays as it is.
2. **Judge**: the supervised buttons (assigned, their case active) are read in
   slices of `SLICE` by device id, and `findings()` says what is wrong with each.
3. **Raise and end**: a finding with no open event of its kind raises one; an open
   event with no finding ends. Each raise, end and acknowledgement is an audit
   entry, chained into the case's evidence.
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from msa.backend.daily_report import BRUSSELS
from msa.backend.store.base import AuditEntry
from msa.backend.store.evidence import audit_as_evidence
from msa.backend.store.queries import value_rows
from msa.backend.store.sql import Connection, fetchrow
from msa.backend.supervision import (
    FLAGGED,
    Ack,
    Event,
    Finding,
    Liveness,
    Rules,
    Sweep,
    findings,
)
from protocol import frame as wire

SLICE = 2_000  # supervised buttons judged per transaction
FOLD_BATCH = 20_000  # rows folded per read

_FOLD_DEVICE = """
INSERT INTO device_liveness (device_id, last_frame_at, heartbeat_counter, heartbeat_at,
    battery_pct, flags, waiting, waiting_alarms, battery_low_at)
VALUES {rows}
ON CONFLICT (device_id) DO UPDATE SET
    last_frame_at = CASE WHEN excluded.last_frame_at > device_liveness.last_frame_at
        THEN excluded.last_frame_at ELSE device_liveness.last_frame_at END,
    {newer_heartbeat},
    battery_low_at = CASE WHEN device_liveness.battery_low_at IS NULL
            OR excluded.battery_low_at > device_liveness.battery_low_at
        THEN excluded.battery_low_at ELSE device_liveness.battery_low_at END"""
_HEARTBEAT_COLUMNS = (
    "heartbeat_counter", "heartbeat_at", "battery_pct", "flags", "waiting", "waiting_alarms"
)  # fmt: skip
_NEWER = (
    "excluded.heartbeat_counter IS NOT NULL AND (device_liveness.heartbeat_counter IS NULL"
    " OR excluded.heartbeat_counter > device_liveness.heartbeat_counter)"
)
_NEWER_HEARTBEAT = ",\n    ".join(
    f"{c} = CASE WHEN {_NEWER} THEN excluded.{c} ELSE device_liveness.{c} END"
    for c in _HEARTBEAT_COLUMNS
)
_FOLD_PHONE = """
INSERT INTO phone_liveness (phone_id, last_seen_at) VALUES {rows}
ON CONFLICT (phone_id) DO UPDATE SET last_seen_at = CASE
    WHEN excluded.last_seen_at > phone_liveness.last_seen_at
    THEN excluded.last_seen_at ELSE phone_liveness.last_seen_at END"""
# Rows of devices (or phones) folded per write: one short transaction each, so that an
# alarm's commit never waits long behind a fold of a national fleet's minute.
FOLD_WRITE = 250


@lru_cache(maxsize=16)
def fold_devices(rows: int) -> str:
    return _FOLD_DEVICE.format(rows=value_rows(rows, 9), newer_heartbeat=_NEWER_HEARTBEAT)


@lru_cache(maxsize=16)
def fold_phones(rows: int) -> str:
    return _FOLD_PHONE.format(rows=value_rows(rows, 2))


# source table → the read of its rows after a cursor (id, and what is folded)
SOURCES = {
    "frames": "SELECT id, device_id, counter, type, committed_at AS at, battery_pct, flags,"
    " phone_id, CASE WHEN type = 3 THEN raw END AS raw FROM frames",
    "check_ins": "SELECT id, phone_id, received_at AS at FROM check_ins",
    "link_reports": "SELECT id, phone_id, received_at AS at FROM link_reports",
}

SUPERVISED = """
SELECT d.device_id, d.heartbeat_s, d.created_at, p.id AS person_id, c.id AS case_id,
       c.managing_zone_id AS zone_id, c.supervision_grace_s AS grace_s,
       l.last_frame_at, l.heartbeat_at, l.battery_pct, l.flags, l.waiting,
       l.waiting_alarms, l.battery_low_at,
       ph.id AS phone_id, ph.created_at AS phone_since, pl.last_seen_at AS phone_seen_at,
       (SELECT min(r.off_at) FROM link_reports r
        WHERE r.phone_id = ph.id AND r.on_at IS NULL) AS bluetooth_off_at
FROM devices d
JOIN persons p ON p.id = d.person_id
JOIN cases c ON c.id = p.case_id
LEFT JOIN device_liveness l ON l.device_id = d.device_id
LEFT JOIN phones ph ON ph.device_id = d.device_id
LEFT JOIN phone_liveness pl ON pl.phone_id = ph.id
WHERE d.status = 'active' AND c.status = 'active' AND d.device_id > $1
  AND NOT EXISTS (SELECT 1 FROM stays s WHERE s.person_id = p.id AND s.outcome = 'abroad'
                  AND s.starts_on <= $3 AND s.ends_on > $3)  -- abroad: the alarm is not active
  -- Only the buttons `findings` may find something wrong with at $4 (a superset of its
  -- rules: they judge), and those with an event open (to end it): a national fleet's
  -- sweep reads a few rows, not every button's.
  AND (COALESCE(l.last_frame_at, d.created_at) + d.heartbeat_s * 1000
         + c.supervision_grace_s * 1000 <= $4
       OR (ph.id IS NOT NULL AND COALESCE(pl.last_seen_at, ph.created_at, $4)
             + CAST($5 AS BIGINT) + c.supervision_grace_s * 1000 <= $4)
       OR EXISTS (SELECT 1 FROM link_reports r WHERE r.phone_id = ph.id AND r.on_at IS NULL)
       OR (COALESCE(l.flags, 0) & CAST($7 AS INTEGER)) <> 0
       OR l.battery_pct <= CAST($6 AS INTEGER)
       OR (l.battery_low_at IS NOT NULL
           AND (l.heartbeat_at IS NULL OR l.battery_low_at > l.heartbeat_at))
       OR EXISTS (SELECT 1 FROM supervision_events e
                  WHERE e.device_id = d.device_id AND e.ended_at IS NULL))
ORDER BY d.device_id
LIMIT $2"""

OPEN_IN_SLICE = """
SELECT id, kind, device_id, case_id FROM supervision_events
WHERE ended_at IS NULL AND device_id > $1 AND device_id <= $2"""

EVENTS = """
SELECT e.id, e.kind, e.device_id, e.phone_id, e.case_id, c.reference AS case_reference,
       p.full_name AS person_name, z.name AS zone, e.since, e.raised_at, e.detail,
       e.acknowledged_at, o.name AS acknowledged_by, e.ended_at
FROM supervision_events e
JOIN cases c ON c.id = e.case_id
JOIN persons p ON p.id = e.person_id
JOIN police_zones z ON z.id = e.zone_id
LEFT JOIN operators o ON o.id = e.acknowledged_by
WHERE (e.ended_at IS NULL OR e.acknowledged_at IS NULL) AND {scope}
ORDER BY e.id DESC
LIMIT $2"""

SYSTEM = "supervision"


class SupervisionSql:
    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    if TYPE_CHECKING:  # SqlStore's, which an engine may override: no stub here to shadow it

        def _reading(self, urgent: bool = False) -> AbstractAsyncContextManager[Connection]: ...

    async def sweep_supervision(self, now: int, rules: Rules) -> Sweep:
        folded = 0
        for source in SOURCES:
            folded += await self._fold(source)
        devices = raised = ended = 0
        after = -1
        today = dt.datetime.fromtimestamp(now / 1000, BRUSSELS).date().isoformat()
        while True:
            async with self._reading() as conn:
                rows = await conn.fetch(
                    SUPERVISED, after, SLICE, today, now, rules.check_in_s * 1000,
                    rules.battery_low_pct, FLAGGED,
                )  # fmt: skip
            last = int(rows[-1]["device_id"]) if rows else 2**32
            if len(rows) < SLICE:
                last = 2**32  # the last slice also ends the events of unsupervised buttons
            found = [f for row in rows for f in findings(_liveness(row), now, rules)]
            cases = {int(row["device_id"]): row for row in rows}
            r, e = await self._settle(after, last, found, cases, now)
            devices, raised, ended = devices + len(rows), raised + r, ended + e
            if last >= 2**32:
                return Sweep(now, devices, folded, raised, ended)
            after = last

    async def _fold(self, source: str) -> int:
        """Fold the rows of `source` committed since the last sweep; how many."""
        async with self._transaction() as conn:
            cursor = await fetchrow(
                conn, "SELECT seen_id, reread_from FROM supervision_cursors WHERE source = $1",
                source,
            )  # fmt: skip
            seen, start = (
                (0, 0) if cursor is None else (int(cursor["seen_id"]), int(cursor["reread_from"]))
            )
        folded, after = 0, start
        while True:
            async with self._reading() as conn:
                rows = await conn.fetch(
                    SOURCES[source] + " WHERE id > $1 ORDER BY id LIMIT $2", after, FOLD_BATCH
                )
            if rows:
                await self._write_folded(*_folded(source, rows))
                folded += len(rows)
                after = int(rows[-1]["id"])
            if len(rows) < FOLD_BATCH:
                break
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO supervision_cursors (source, seen_id, reread_from)"
                " VALUES ($1, $2, $3) ON CONFLICT (source) DO UPDATE"
                " SET seen_id = excluded.seen_id, reread_from = excluded.reread_from",
                source, max(seen, after), seen,
            )  # fmt: skip
        return folded

    async def _write_folded(self, devices: list[list[Any]], phones: list[list[Any]]) -> None:
        for rows, statement in ((devices, fold_devices), (phones, fold_phones)):
            for first in range(0, len(rows), FOLD_WRITE):
                chunk = rows[first : first + FOLD_WRITE]
                async with self._transaction() as conn:
                    await conn.execute(statement(len(chunk)), *(v for row in chunk for v in row))

    async def _settle(
        self,
        after: int,
        last: int,
        found: list[Finding],
        supervised: dict[int, Any],
        now: int,
    ) -> tuple[int, int]:
        """Raise the findings of devices (after, last] with no open event; end the
        open events there with no finding."""
        async with self._transaction() as conn:
            open_rows = await conn.fetch(OPEN_IN_SLICE, after, last)
            opened = {(r["kind"], int(r["device_id"])): r for r in open_rows}
            wanted = {(f.kind, f.device_id): f for f in found}
            raised = ended = 0
            for key, finding in wanted.items():
                if key not in opened:
                    raised += await _raise(conn, finding, supervised[finding.device_id], now)
            for key, row in opened.items():
                if key not in wanted:
                    await _end(conn, int(row["id"]), int(row["case_id"]), key[0], now)
                    ended += 1
        return raised, ended

    async def supervision_events(
        self, zone_id: int | None = None, watched: bool = False, limit: int = 500
    ) -> list[Event]:
        scope = "c.cic_watch" if watched else "e.zone_id = $1"
        sql = EVENTS.format(scope=scope if zone_id is not None or watched else "TRUE")
        if watched or zone_id is None:
            sql = sql.replace("$2", "$1")
            args: tuple[object, ...] = (limit,)
        else:
            args = (zone_id, limit)
        async with self._reading() as conn:
            rows = await conn.fetch(sql, *args)
        return [Event(**dict(row)) for row in rows]

    async def acknowledge_supervision(
        self, event_id: int, operator_id: int, zone_id: int | None, at: int
    ) -> Ack:
        async with self._transaction() as conn:
            row = await fetchrow(
                conn,
                "SELECT e.kind, e.zone_id, e.case_id, e.acknowledged_at, c.cic_watch"
                " FROM supervision_events e JOIN cases c ON c.id = e.case_id WHERE e.id = $1",
                event_id,
            )
            if row is None:
                return "unknown"
            allowed = bool(row["cic_watch"]) if zone_id is None else row["zone_id"] == zone_id
            if not allowed:
                return "not_yours"
            if row["acknowledged_at"] is not None:
                return "unchanged"
            await conn.execute(
                "UPDATE supervision_events SET acknowledged_at = $2, acknowledged_by = $3"
                " WHERE id = $1",
                event_id, at, operator_id,
            )  # fmt: skip
            await audit_as_evidence(
                conn,
                AuditEntry(
                    at, f"operator:{operator_id}", "supervision.acknowledge",
                    f"supervision:{event_id}", int(row["case_id"]), row["kind"],
                ),
            )  # fmt: skip
        return "done"

    async def zone_id(self, name: str) -> int | None:
        async with self._reading() as conn:
            row = await fetchrow(conn, "SELECT id FROM police_zones WHERE name = $1", name)
        return None if row is None else int(row["id"])

    async def set_case_supervision(
        self, reference: str, grace_s: int | None, cic_watch: bool | None
    ) -> bool:
        async with self._transaction() as conn:
            row = await fetchrow(
                conn,
                "UPDATE cases SET supervision_grace_s = coalesce($2, supervision_grace_s),"
                " cic_watch = coalesce($3, cic_watch) WHERE reference = $1 RETURNING id",
                reference, grace_s, cic_watch,
            )  # fmt: skip
        return row is not None


def _folded(source: str, rows: Iterable[Any]) -> tuple[list[list[Any]], list[list[Any]]]:
    """The rows of `source` as the values of fold_devices and fold_phones, a row each."""
    devices: dict[int, list[Any]] = {}
    phones: dict[int, int] = {}
    for row in rows:
        at = int(row["at"])
        phone_id = int(row["phone_id"])
        phones[phone_id] = max(at, phones.get(phone_id, at))
        if source == "frames":
            _fold_frame(devices, row, at)
    return list(devices.values()), [[phone, at] for phone, at in phones.items()]


def _fold_frame(devices: dict[int, list[Any]], row: Any, at: int) -> None:
    """One frame into its device's values (those of fold_devices, in order)."""
    device_id = int(row["device_id"])
    values = devices.setdefault(
        device_id, [device_id, at, None, None, None, None, None, None, None]
    )
    values[1] = max(values[1], at)
    kind = int(row["type"])
    if kind == wire.HEARTBEAT and (values[2] is None or int(row["counter"]) > values[2]):
        fields = _heartbeat_fields(row["raw"])
        values[2:8] = [
            int(row["counter"]), at, row["battery_pct"], row["flags"],
            fields.get("waiting"), fields.get("waiting_alarms"),
        ]  # fmt: skip
    elif kind == wire.BATTERY_LOW:
        values[8] = max(at, values[8] or at)


def _heartbeat_fields(raw: Any) -> dict[str, Any]:
    try:
        return wire.parse(bytes(raw)).fields()
    except (wire.FrameError, TypeError, ValueError):
        return {}  # committed frames parse; an unreadable one still counts as heard


def _liveness(row: Any) -> Liveness:
    def opt(name: str) -> int | None:
        value = row[name]
        return None if value is None else int(value)

    return Liveness(
        device_id=int(row["device_id"]),
        case_id=int(row["case_id"]),
        person_id=int(row["person_id"]),
        zone_id=int(row["zone_id"]),
        heartbeat_s=int(row["heartbeat_s"]),
        grace_s=int(row["grace_s"]),
        watched_since=int(row["created_at"]),
        last_frame_at=opt("last_frame_at"),
        heartbeat_at=opt("heartbeat_at"),
        battery_pct=opt("battery_pct"),
        flags=opt("flags"),
        waiting=opt("waiting"),
        waiting_alarms=opt("waiting_alarms"),
        battery_low_at=opt("battery_low_at"),
        phone_id=opt("phone_id"),
        phone_since=opt("phone_since"),
        phone_seen_at=opt("phone_seen_at"),
        bluetooth_off_at=opt("bluetooth_off_at"),
    )


async def _raise(conn: Connection, finding: Finding, live: Any, now: int) -> int:
    row = await fetchrow(
        conn,
        "INSERT INTO supervision_events (kind, device_id, phone_id, person_id, case_id,"
        " zone_id, since, raised_at, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (kind, device_id) WHERE ended_at IS NULL DO NOTHING RETURNING id",
        finding.kind, finding.device_id, live["phone_id"], live["person_id"], live["case_id"],
        live["zone_id"], finding.since, now, finding.detail,
    )  # fmt: skip
    if row is None:
        return 0  # another sweep raised it
    await audit_as_evidence(
        conn,
        AuditEntry(now, SYSTEM, "supervision.raise", f"supervision:{row['id']}",
                   int(live["case_id"]), f"{finding.kind}: {finding.detail}"),
    )  # fmt: skip
    return 1


async def _end(conn: Connection, event_id: int, case_id: int, kind: str, now: int) -> None:
    await conn.execute("UPDATE supervision_events SET ended_at = $2 WHERE id = $1", event_id, now)
    await audit_as_evidence(
        conn,
        AuditEntry(now, SYSTEM, "supervision.end", f"supervision:{event_id}", case_id, kind),
    )
