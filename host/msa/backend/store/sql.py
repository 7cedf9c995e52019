"""The store's logic, written once in SQL both engines understand.

`SqlStore` implements every `Store` method on a `Connection`; an engine's
subclass says how to open a transaction (`_transaction`) or a plain read
(`_connection`) and maps its driver's failures to `StoreUnavailable` (and may
write a step in SQL of its own where that saves round trips on the alarm path). Queries use
PostgreSQL's `$1` parameters; the SQLite connection renumbers them as `?1`.
Device keys are wrapped under the store's KEK on the way in and unwrapped on the
way out (store/device_keys.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from msa.backend.keys import Kek, KekError
from msa.backend.store import device_keys, migrations, queries
from msa.backend.store.base import (
    Alarm,
    AuditEntry,
    CaseDraft,
    CaseIds,
    Commit,
    Device,
    IngestContext,
    NewAlarm,
    NewFrame,
    Operator,
    PersonDraft,
    StoreUnavailable,
)
from msa.backend.store.group_commit import GroupCommit
from msa.backend.store.queries import Row
from msa.timefmt import now_ms

log = logging.getLogger(__name__)


class Connection(Protocol):
    """One database session, as the shared SQL needs it."""

    async def execute(self, sql: str, *args: object) -> None: ...

    async def fetch(self, sql: str, *args: object) -> list[Row]: ...

    async def run_script(self, script: str) -> None:
        """Run several `;`-separated statements inside the current transaction."""
        ...


async def fetchrow(conn: Connection, sql: str, *args: object) -> Row | None:
    rows = await conn.fetch(sql, *args)
    return rows[0] if rows else None


COUNTED_TABLES = (
    "cases",
    "persons",
    "devices",
    "phones",
    "operators",
    "frames",
    "alarms",
    "audit",
    "link_reports",
    "check_ins",
    "alarm_locations",
    "notifications",
    "measure_extensions",
)


class SqlStore(ABC):
    """A `Store` on SQL; subclasses bring the engine (see module docstring)."""

    dialect: str

    def __init__(self, kek: Kek | None = None) -> None:
        self._routine_frames = GroupCommit(self._commit_routine_frames)
        self._kek = kek  # None: a store that reads no device key (counts, cases)

    @abstractmethod
    def _transaction(self, urgent: bool = False) -> AbstractAsyncContextManager[Connection]:
        """A connection inside a write transaction, committed when the block ends;
        `urgent` (an alarm's) goes before routine work waiting for the database."""

    @abstractmethod
    def _connection(self, urgent: bool = False) -> AbstractAsyncContextManager[Connection]:
        """A connection for reads (each statement sees committed data)."""

    @abstractmethod
    async def _lock_migrations(self, conn: Connection) -> None:
        """Keep two processes from migrating the same database at once."""

    async def close(self) -> None:
        await self._routine_frames.drain()
        await self._close()

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _erase_freed_space(self) -> None:
        """Rewrite the database so that no deleted bytes (plaintext keys) stay in it."""

    async def migrate(self) -> list[str]:
        carried: list[tuple[int, bytes]] = []
        async with self._transaction() as conn:
            await self._lock_migrations(conn)
            await conn.execute(migrations.CREATE_LEDGER)
            done = {
                row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")
            }
            applied = []
            for migration in migrations.load():
                if migration.version in done:
                    continue
                wraps = migration.version == device_keys.MIGRATION
                if wraps:
                    carried = await device_keys.plaintext_keys(conn)
                await conn.run_script(migrations.render(migration.sql, self.dialect))
                if wraps and carried:  # raises without a KEK: the whole migration rolls back
                    await device_keys.store_wrapped(conn, self._kek, carried)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    now_ms(),
                )
                applied.append(migration.version)
            if self._kek is not None:
                await device_keys.check_kek(conn, self._kek)
        if carried:
            log.warning("wrapped %d device keys that were in plain text", len(carried))
            await self._erase_freed_space()
        return applied

    # --- ingestion -------------------------------------------------------------

    async def ingest_context(
        self, token_sha256: str, device_id: int, urgent: bool = False
    ) -> IngestContext | None:
        async with self._connection(urgent) as conn:
            row = await fetchrow(conn, queries.INGEST_CONTEXT, token_sha256, device_id)
        if row is None:
            return None
        device = None
        if row["device_id"] is not None:
            try:
                key = device_keys.unwrapped(self._kek, row)
            except KekError as error:  # 503: the phone keeps the frame and retries
                raise StoreUnavailable(str(error)) from error
            device = Device(row["device_id"], key, row["device_status"])
        return IngestContext(
            row["phone_id"], row["linked_device_id"], device, row["person_id"], row["case_id"]
        )

    async def commit_frame(self, frame: NewFrame) -> Commit:
        if frame.alarm is None:
            return await self._routine_frames.submit(frame)
        return await self._commit_alarm_frame(frame, frame.alarm)

    async def _commit_alarm_frame(self, frame: NewFrame, alarm: NewAlarm) -> Commit:
        """The frame and its alarm, ahead of routine traffic, in one transaction."""
        async with self._transaction(urgent=True) as conn:
            commit = await _insert_frame(conn, frame)
            if commit.outcome != "committed":
                return commit
            inserted = await fetchrow(
                conn,
                queries.INSERT_ALARM,
                commit.frame_id,
                alarm.kind,
                alarm.person_id,
                alarm.case_id,
                alarm.pressed_at,
            )
            assert inserted is not None
        return Commit("committed", commit.frame_id, commit.committed_at, inserted["id"])

    async def _commit_routine_frames(self, frames: list[NewFrame]) -> list[Commit]:
        # One INSERT is a transaction of its own on both engines (autocommit):
        # a group of heartbeats costs one statement, not BEGIN, INSERTs and COMMIT.
        async with self._connection() as conn:
            return await _insert_frames(conn, frames)

    # --- the console -----------------------------------------------------------

    async def alarm(self, alarm_id: int, urgent: bool = False) -> Alarm | None:
        found = await self._alarms("a.id = $1", alarm_id, urgent=urgent)
        return found[0] if found else None

    async def open_alarms(self) -> list[Alarm]:
        return await self._alarms("a.status <> $1", "closed")

    async def _alarms(self, where: str, *args: object, urgent: bool = False) -> list[Alarm]:
        async def fetch(sql: str, *arguments: object) -> list[Row]:
            async with self._connection(urgent) as conn:
                return await conn.fetch(sql.format(where=where), *arguments)

        rows = await fetch(queries.ALARMS, *args)
        if not rows:
            return []
        # Each on a connection of its own where the engine has several (PostgreSQL):
        # an alarm's way to the consoles waits for one round trip, not six.
        details = await asyncio.gather(
            fetch(queries.ALARM_ADDRESSES, *args),
            fetch(queries.ALARM_TRAIL, *args),
            fetch(queries.ALARM_HISTORY, *args),
            fetch(queries.ALARM_NOTIFICATIONS, *args),
            fetch(queries.ZONE_AREAS),
            fetch(queries.CASE_PERSONS, *args),
        )
        return queries.alarms_from_rows(queries.AlarmRows(rows, *details))

    async def operator_by_token(self, token_sha256: str) -> Operator | None:
        async with self._connection() as conn:
            row = await fetchrow(
                conn, "SELECT id, name, role FROM operators WHERE token_sha256 = $1", token_sha256
            )
        return Operator(row["id"], row["name"], row["role"]) if row else None

    async def audit(self, entries: Sequence[AuditEntry]) -> None:
        async with self._transaction() as conn:
            for entry in entries:
                await insert_audit(conn, entry)

    async def audit_trail(self, case_id: int) -> list[AuditEntry]:
        async with self._connection() as conn:
            return await audit_entries(conn, "case_id = $1", case_id)

    async def counts(self) -> dict[str, int]:
        columns = ", ".join(
            f"(SELECT count(*) FROM {table}) AS {table}" for table in COUNTED_TABLES
        )
        async with self._connection() as conn:
            row = await fetchrow(conn, f"SELECT {columns}")
        assert row is not None
        return {table: int(row[table]) for table in COUNTED_TABLES}

    # --- provisioning ----------------------------------------------------------

    async def find_case(self, reference: str) -> CaseIds | None:
        async with self._connection() as conn:
            return await _existing_case(conn, reference)

    async def create_case(self, draft: CaseDraft) -> CaseIds:
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO judicial_districts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                draft.judicial_district,
            )
            await conn.execute(
                "INSERT INTO police_zones (name, district_id)"
                " SELECT $1, id FROM judicial_districts WHERE name = $2"
                " ON CONFLICT (name) DO NOTHING",
                draft.managing_zone,
                draft.judicial_district,
            )
            row = await fetchrow(
                conn,
                "INSERT INTO cases (reference, decided_on, managing_zone_id, district_id, status,"
                " ends_on, created_at)"
                " SELECT $1, $2, z.id, jd.id, 'active', $5, $6"
                " FROM police_zones z, judicial_districts jd WHERE z.name = $3 AND jd.name = $4"
                " ON CONFLICT (reference) DO NOTHING RETURNING id",
                draft.reference,
                draft.decided_on,
                draft.managing_zone,
                draft.judicial_district,
                draft.ends_on,
                now_ms(),
            )
            if row is None:
                existing = await _existing_case(conn, draft.reference)
                assert existing is not None  # the reference conflicted, and cases stay
                return existing
            case_id = row["id"]
            person_ids = tuple([await _insert_person(conn, case_id, p) for p in draft.persons])
            if draft.suspect is not None:
                s = draft.suspect
                await conn.execute(
                    "INSERT INTO suspects (case_id, full_name, record, has_weapons, weapons)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    case_id,
                    s.full_name,
                    s.record,
                    s.has_weapons,
                    s.weapons,
                )
        return CaseIds(case_id, person_ids, created=True)

    async def register_device(self, device_id: int, mac_key: bytes, person_id: int | None) -> None:
        wrapped, kek_id = device_keys.wrapped_row(self._kek, device_id, mac_key)
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO devices (device_id, mac_key_wrapped, kek_id, person_id, status,"
                " created_at) VALUES ($1, $2, $3, $4, 'active', $5) ON CONFLICT (device_id)"
                " DO UPDATE SET mac_key_wrapped = excluded.mac_key_wrapped,"
                " kek_id = excluded.kek_id, person_id = excluded.person_id",
                device_id,
                wrapped,
                kek_id,
                person_id,
                now_ms(),
            )

    async def link_phone(self, token_sha256: str, person_id: int, device_id: int) -> int:
        return await self._upsert_returning_id(
            "INSERT INTO phones (token_sha256, person_id, device_id, created_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (device_id) DO UPDATE"
            " SET token_sha256 = excluded.token_sha256, person_id = excluded.person_id"
            " RETURNING id",
            token_sha256,
            person_id,
            device_id,
            now_ms(),
        )

    async def add_operator(self, name: str, token_sha256: str, role: str) -> int:
        return await self._upsert_returning_id(
            "INSERT INTO operators (name, token_sha256, role, created_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE"
            " SET token_sha256 = excluded.token_sha256, role = excluded.role"
            " RETURNING id",
            name,
            token_sha256,
            role,
            now_ms(),
        )

    # --- the phone's own reports --------------------------------------------------

    async def phone_by_token(self, token_sha256: str) -> int | None:
        async with self._connection() as conn:
            row = await fetchrow(
                conn, "SELECT id FROM phones WHERE token_sha256 = $1", token_sha256
            )
        return None if row is None else int(row["id"])

    async def commit_link_report(self, phone_id: int, off_at: int, on_at: int) -> str:
        return await self._insert_once(
            "INSERT INTO link_reports (phone_id, off_at, on_at, received_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (phone_id, off_at) DO NOTHING RETURNING id",
            "SELECT on_at = $3 AS same FROM link_reports WHERE phone_id = $1 AND off_at = $2",
            (phone_id, off_at, on_at),
        )

    async def commit_check_in(self, phone_id: int, checked_in_at: int) -> str:
        return await self._insert_once(
            "INSERT INTO check_ins (phone_id, checked_in_at, received_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (phone_id, checked_in_at) DO NOTHING RETURNING id",
            "SELECT TRUE AS same FROM check_ins WHERE phone_id = $1 AND checked_in_at = $2",
            (phone_id, checked_in_at),
        )

    async def _insert_once(self, insert: str, compare: str, values: tuple[object, ...]) -> str:
        """Insert `values` and the time of receipt: "committed", or for a row with the
        same identity "duplicate" when it holds the same values and "conflict" when
        it does not (`compare` takes the values alone)."""
        async with self._transaction() as conn:
            if await fetchrow(conn, insert, *values, now_ms()) is not None:
                return "committed"
            first = await fetchrow(conn, compare, *values)
        assert first is not None  # the conflicting row exists and rows are never deleted
        return "duplicate" if first["same"] else "conflict"

    async def _upsert_returning_id(self, sql: str, *args: object) -> int:
        async with self._transaction() as conn:
            row = await fetchrow(conn, sql, *args)
        assert row is not None  # DO UPDATE always returns the row
        return int(row["id"])


async def insert_audit(conn: Connection, entry: AuditEntry) -> None:
    await conn.execute(
        "INSERT INTO audit (at, actor, action, subject, case_id, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        entry.at,
        entry.actor,
        entry.action,
        entry.subject,
        entry.case_id,
        entry.detail,
    )


async def audit_entries(conn: Connection, where: str, value: object) -> list[AuditEntry]:
    """The audit entries matching `where` (a fixed condition on $1, never input), in order."""
    rows = await conn.fetch(
        f"SELECT at, actor, action, subject, case_id, detail FROM audit WHERE {where} ORDER BY id",
        value,
    )
    return [AuditEntry(**row) for row in rows]


async def _insert_frame(conn: Connection, frame: NewFrame) -> Commit:
    return (await _insert_frames(conn, [frame]))[0]


async def _insert_frames(conn: Connection, frames: list[NewFrame]) -> list[Commit]:
    """The frames' rows in one statement. A frame whose (device, counter) holds a
    row already (from before, or from earlier in `frames`) is a duplicate when it
    is the same bytes, a reused counter when it is not."""
    committed_at = now_ms()
    firsts: dict[tuple[int, int], int] = {}  # (device, counter) -> index of its first frame
    for index, frame in enumerate(frames):
        firsts.setdefault((frame.device_id, frame.counter), index)
    new = [frames[index] for index in firsts.values()]
    rows = await conn.fetch(
        queries.insert_frames(len(new)),
        *itertools.chain.from_iterable(frame_values(frame, committed_at) for frame in new),
    )
    inserted = {(row["device_id"], row["counter"]): row["id"] for row in rows}
    commits = []
    for index, frame in enumerate(frames):
        key = (frame.device_id, frame.counter)
        if key in inserted and firsts[key] == index:
            commits.append(Commit("committed", inserted[key], committed_at, None))
        else:
            commits.append(await committed_before(conn, frame))
    return commits


def frame_values(frame: NewFrame, committed_at: int) -> tuple[object, ...]:
    loc = frame.location
    position = (loc.lat, loc.lon, loc.accuracy_m, loc.fix_at) if loc else (None,) * 4
    return (
        frame.device_id,
        frame.counter,
        frame.type,
        frame.raw,
        frame.time_s,
        frame.battery_mv,
        frame.uptime_s,
        frame.phone_id,
        frame.received_at,
        committed_at,
        *position,
        frame.battery_pct,
        frame.flags,
    )


async def committed_before(conn: Connection, frame: NewFrame) -> Commit:
    first = await fetchrow(conn, queries.COMMITTED_FRAME, frame.device_id, frame.counter)
    assert first is not None  # a conflicting row exists and rows are never deleted
    outcome = "duplicate" if bytes(first["raw"]) == frame.raw else "counter_reused"
    return Commit(outcome, first["id"], first["committed_at"], first["alarm_id"])


async def _existing_case(conn: Connection, reference: str) -> CaseIds | None:
    rows = await conn.fetch(
        "SELECT c.id AS case_id, p.id AS person_id FROM cases c"
        " LEFT JOIN persons p ON p.case_id = c.id WHERE c.reference = $1 ORDER BY p.id",
        reference,
    )
    if not rows:
        return None
    person_ids = tuple(row["person_id"] for row in rows if row["person_id"] is not None)
    return CaseIds(rows[0]["case_id"], person_ids, created=False)


async def _insert_person(conn: Connection, case_id: int, person: PersonDraft) -> int:
    row = await fetchrow(
        conn,
        "INSERT INTO persons (case_id, full_name, phone_number, national_register_number,"
        " confidential) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        case_id,
        person.full_name,
        person.phone_number,
        person.national_register_number,
        person.confidential,
    )
    assert row is not None
    for address in person.addresses:
        await conn.execute(
            "INSERT INTO addresses (person_id, kind, address, valid_from, valid_until, lat, lon)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            row["id"],
            address.kind,
            address.address,
            address.valid_from,
            address.valid_until,
            address.lat,
            address.lon,
        )
    return int(row["id"])
