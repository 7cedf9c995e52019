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
from contextlib import AbstractAsyncContextManager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from msa.backend.daily_report import BRUSSELS
from msa.backend.store.base import AuditEntry
from msa.backend.store.evidence import audit_as_evidence
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
# Source rows (by id) folded per statement: one short transaction each, so that an
# alarm's commit never waits long behind a fold of a national fleet's minute, and the
# fold's work is the database's, not the event loop's (msa bench flood).
FOLD_SPAN = 250

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
# Each device's frames in the span: its latest, its newest heartbeat (by counter: the
# newest built, whenever it arrived), its latest battery_low. `WHERE TRUE` lets
# SQLite tell the upsert's ON from a join's.
FOLD_DEVICES = f"""
WITH span AS (
    SELECT device_id, counter, type, committed_at, battery_pct, flags, waiting, waiting_alarms
    FROM frames WHERE id > $1 AND id <= $2),
heartbeats AS (
    SELECT device_id, counter, committed_at, battery_pct, flags, waiting, waiting_alarms,
           ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY counter DESC) AS newest
    FROM span WHERE type = {wire.HEARTBEAT}),
devices AS (
    SELECT device_id, max(committed_at) AS last_frame_at,
           max(CASE WHEN type = {wire.BATTERY_LOW} THEN committed_at END) AS battery_low_at
    FROM span GROUP BY device_id)
INSERT INTO device_liveness (device_id, last_frame_at, heartbeat_counter, heartbeat_at,
    battery_pct, flags, waiting, waiting_alarms, battery_low_at)
SELECT d.device_id, d.last_frame_at, h.counter, h.committed_at, h.battery_pct, h.flags,
       h.waiting, h.waiting_alarms, d.battery_low_at
FROM devices d LEFT JOIN heartbeats h ON h.device_id = d.device_id AND h.newest = 1
WHERE TRUE
ON CONFLICT (device_id) DO UPDATE SET
    last_frame_at = CASE WHEN excluded.last_frame_at > device_liveness.last_frame_at
        THEN excluded.last_frame_at ELSE device_liveness.last_frame_at END,
    {_NEWER_HEARTBEAT},
    battery_low_at = CASE WHEN device_liveness.battery_low_at IS NULL
            OR excluded.battery_low_at > device_liveness.battery_low_at
        THEN excluded.battery_low_at ELSE device_liveness.battery_low_at END"""

# source table → when each of its rows saw its phone
SOURCES = {
    "frames": "committed_at",
    "check_ins": "received_at",
    "link_reports": "received_at",
}


@lru_cache(maxsize=len(SOURCES))
def fold_phones(source: str) -> str:
    return f"""
INSERT INTO phone_liveness (phone_id, last_seen_at)
SELECT phone_id, max({SOURCES[source]}) FROM {source}
WHERE id > $1 AND id <= $2 GROUP BY phone_id
ON CONFLICT (phone_id) DO UPDATE SET last_seen_at = CASE
    WHEN excluded.last_seen_at > phone_liveness.last_seen_at
    THEN excluded.last_seen_at ELSE phone_liveness.last_seen_at END"""


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

        def _background_reading(self) -> AbstractAsyncContextManager[Connection]: ...

    async def sweep_supervision(self, now: int, rules: Rules) -> Sweep:
        folded = 0
        for source in SOURCES:
            folded += await self._fold(source)
        devices = raised = ended = 0
        after = -1
        today = dt.datetime.fromtimestamp(now / 1000, BRUSSELS).date().isoformat()
        while True:
            async with self._background_reading() as conn:
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
        async with self._background_reading() as conn:
            span = await fetchrow(
                conn, f"SELECT count(*) AS n, max(id) AS top FROM {source} WHERE id > $1", start
            )
        assert span is not None  # an aggregate has its row
        top = start if span["top"] is None else int(span["top"])
        for after in range(start, top, FOLD_SPAN):
            last = min(after + FOLD_SPAN, top)
            async with self._transaction() as conn:
                if source == "frames":
                    await conn.execute(FOLD_DEVICES, after, last)
                await conn.execute(fold_phones(source), after, last)
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO supervision_cursors (source, seen_id, reread_from)"
                " VALUES ($1, $2, $3) ON CONFLICT (source) DO UPDATE"
                " SET seen_id = excluded.seen_id, reread_from = excluded.reread_from",
                source, max(seen, top), seen,
            )  # fmt: skip
        return int(span["n"])

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
