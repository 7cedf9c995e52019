"""The store's logic, written once in SQL both engines understand.

`SqlStore` implements every `Store` method on a `Connection`; an engine's
subclass says how to open a transaction (`_transaction`), a connection outside
one (`_connection`) and, if it keeps one apart, a connection for reads only
(`_reading`), and maps its driver's failures to `StoreUnavailable` (and may
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
    SINCE_LIMIT,
    Admit,
    Alarm,
    AuditEntry,
    CaseDraft,
    CaseIds,
    CheckInOutcome,
    Commit,
    Device,
    IngestContext,
    NewAlarm,
    NewFrame,
    Operator,
    PersonDraft,
    ReportOutcome,
    Revocation,
    RevocationReason,
    SecurityEvent,
    StoreUnavailable,
    UnreadableAlarm,
)
from msa.backend.store.group_commit import GroupCommit
from msa.backend.store.queries import Row, describe
from msa.errors import UsageError
from msa.timefmt import now_ms

log = logging.getLogger(__name__)
MAX_EPOCH = 255  # a counter's top byte (protocol/SPEC.md §4)

_AUDIT_ROWS = 256  # per INSERT: 6 parameters a row, far below either engine's limit


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
        # Routine frames' contexts asked together are read together: one query for
        # the heartbeats of many buttons instead of one each (a national fleet's
        # heartbeats each come from a button not heard for a minute: no cache helps).
        self._routine_contexts = GroupCommit(self._load_contexts)
        self._kek = kek  # None: a store that reads no device key (counts, cases)

    @abstractmethod
    def _transaction(
        self, urgent: bool = False, promote_after_s: float | None = None
    ) -> AbstractAsyncContextManager[Connection]:
        """A connection inside a write transaction, committed when the block ends;
        `urgent` (an alarm's) goes before routine work waiting for the database, and
        so does routine work that has waited `promote_after_s` (see `Lanes`)."""

    @abstractmethod
    def _connection(self, urgent: bool = False) -> AbstractAsyncContextManager[Connection]:
        """A connection outside a transaction (each statement sees committed data,
        and each write is committed on its own)."""

    @abstractmethod
    async def _assign(self, conn: Connection, device_id: int, person_id: int) -> None:
        """The inventory's part of provisioning, in its transaction (store/inventory.py):
        InventoryError, before any change, for a button that is not hers to take."""

    @abstractmethod
    async def _mark_lost(self, conn: Connection, device_id: int, reason: str) -> None:
        """The inventory's part of a revocation, in its transaction."""

    def _reading(self, urgent: bool = False) -> AbstractAsyncContextManager[Connection]:
        """A connection for reads only; an engine may keep one that writes never hold."""
        return self._connection(urgent)

    def _background_reading(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for a scheduled job's long reads (the sweep, the zones'
        reports); an engine whose reads take turns keeps one apart, so that no
        alarm's or heartbeat's read queues behind them."""
        return self._reading()

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
        self, token_sha256: str, device_id: int, urgent: bool = False, epoch: int | None = None
    ) -> IngestContext | None:
        asked = (token_sha256, device_id, epoch)
        if not urgent:
            return await self._routine_contexts.submit(asked)
        return (await self._load_contexts([asked], urgent=True))[0]

    async def _load_contexts(
        self, asked: list[tuple[str, int, int | None]], urgent: bool = False
    ) -> list[IngestContext | None]:
        values = [v for n, one in enumerate(asked) for v in (n, *one)]
        async with self._reading(urgent) as conn:
            rows = await conn.fetch(queries.ingest_contexts(len(asked)), *values)
        found = {int(row["n"]): row for row in rows}
        return [
            self._context(found[n], asked[n][2]) if n in found else None for n in range(len(asked))
        ]

    def _context(self, row: Row, epoch: int | None) -> IngestContext:
        device = None
        if row["device_id"] is not None:
            key = None
            if row["key_epoch"] is not None:
                try:
                    key = device_keys.unwrapped(self._kek, row)
                except KekError as error:  # 503: the phone keeps the frame and retries
                    raise StoreUnavailable(str(error)) from error
            device = Device(
                row["device_id"],
                key,
                row["device_status"],
                row["token_epoch"] if epoch is None else epoch,
                row["key_status"],
            )
        return IngestContext(
            row["phone_id"],
            row["linked_device_id"],
            device,
            row["person_id"],
            row["case_id"],
            row["token_epoch"],
        )

    async def commit_frame(self, frame: NewFrame) -> Commit:
        if frame.alarm is None:
            return await self._routine_frames.submit(frame)
        return await self._commit_alarm_frame(frame, frame.alarm)

    async def commit_alarm(
        self, token_sha256: str, device_id: int, admit: Admit
    ) -> tuple[IngestContext, Commit]:
        context, frame = admit(await self.ingest_context(token_sha256, device_id, urgent=True))
        return context, await self.commit_frame(frame)

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

    async def alarm(self, alarm_id: int) -> Alarm | UnreadableAlarm | None:
        found = await self._alarms("a.id = $1", (alarm_id,))
        return found[0] if found else None

    async def alarms(self, alarm_ids: Sequence[int]) -> list[Alarm | UnreadableAlarm]:
        if not alarm_ids:
            return []
        return await self._alarms(*self._ids_condition(alarm_ids), True)

    def _ids_condition(self, alarm_ids: Sequence[int]) -> tuple[str, tuple[object, ...]]:
        """The condition on alarm ids, and its arguments."""
        return queries.alarm_ids(len(alarm_ids)), tuple(alarm_ids)

    async def open_alarms(self, since: int | None = None) -> list[Alarm | UnreadableAlarm]:
        # A console's backlog is on the alarms' way to it: ahead of routine reads.
        if since is None:
            return await self._alarms("a.status <> $1", ("closed",), True)
        return await self._alarms(
            "(a.status <> $1 OR (a.id > $2 AND a.id <= $3))",
            ("closed", since, since + SINCE_LIMIT),
            True,
        )

    async def _alarms(
        self, where: str, args: tuple[object, ...], urgent: bool = False
    ) -> list[Alarm | UnreadableAlarm]:
        """The alarms matching `where`. A row the driver cannot decode fails the
        statement that reads it, for every alarm it reads: then each alarm is
        loaded alone, and one that still fails is an `UnreadableAlarm`."""
        try:
            return await self._load_alarms(where, args, urgent)
        except StoreUnavailable:
            raise
        except Exception as error:
            log.error("alarms failed to load together (%s): loading each alone", describe(error))
        async with self._reading(urgent) as conn:
            keys = await conn.fetch(queries.ALARM_KEYS.format(where=where), *args)
        alarms: list[Alarm | UnreadableAlarm] = []
        for key in keys:
            try:
                alarms += await self._load_alarms("a.id = $1", (key["id"],), urgent)
            except StoreUnavailable:
                raise
            except Exception as error:
                alarms.append(queries.unreadable(key, describe(error)))
        return alarms

    async def _load_alarms(
        self, where: str, args: tuple[object, ...], urgent: bool
    ) -> list[Alarm | UnreadableAlarm]:
        found = await self._alarm_rows(queries.alarm_reads(where, args), urgent)
        return [] if found is None else queries.alarms_from_rows(found)

    async def _alarm_rows(
        self, reads: list[tuple[str, tuple[object, ...]]], urgent: bool
    ) -> queries.AlarmRows | None:
        """The rows of `reads` (queries.alarm_reads); None when ALARMS finds none."""

        async def fetch(sql: str, args: tuple[object, ...]) -> list[Row]:
            async with self._reading(urgent) as conn:
                return await conn.fetch(sql, *args)

        rows = await fetch(*reads[0])
        if not rows:
            return None
        # Each on a connection of its own where the engine has several (PostgreSQL):
        # an alarm's way to the consoles waits for one round trip, not six.
        details = await asyncio.gather(*(fetch(*read) for read in reads[1:]))
        return queries.AlarmRows(rows, *details)

    async def operator_by_token(self, token_sha256: str) -> Operator | None:
        async with self._reading() as conn:
            row = await fetchrow(
                conn,
                "SELECT id, name, role, zone_id, district_id FROM operators"
                " WHERE token_sha256 = $1",
                token_sha256,
            )
        return operator_row(row) if row else None

    async def audit(
        self, entries: Sequence[AuditEntry], promote_after_s: float | None = None
    ) -> None:
        async with self._transaction(promote_after_s=promote_after_s) as conn:
            for start in range(0, len(entries), _AUDIT_ROWS):
                chunk = entries[start : start + _AUDIT_ROWS]
                await conn.execute(
                    queries.insert_audit(len(chunk)),
                    *itertools.chain.from_iterable(audit_values(entry) for entry in chunk),
                )

    async def audit_trail(self, case_id: int) -> list[AuditEntry]:
        async with self._reading() as conn:
            return await audit_entries(conn, "case_id = $1", case_id)

    async def counts(self) -> dict[str, int]:
        columns = ", ".join(
            f"(SELECT count(*) FROM {table}) AS {table}" for table in COUNTED_TABLES
        )
        async with self._reading() as conn:
            row = await fetchrow(conn, f"SELECT {columns}")
        assert row is not None
        return {table: int(row[table]) for table in COUNTED_TABLES}

    # --- provisioning ----------------------------------------------------------

    async def find_case(self, reference: str) -> CaseIds | None:
        async with self._reading() as conn:
            return await _existing_case(conn, reference)

    async def create_case(self, draft: CaseDraft) -> CaseIds:
        async with self._transaction() as conn:
            return await insert_case(conn, draft)

    async def register_device(self, device_id: int, mac_key: bytes, person_id: int | None) -> int:
        async with self._transaction() as conn:
            return await self._register_device(conn, device_id, mac_key, person_id)

    async def _register_device(
        self, conn: Connection, device_id: int, mac_key: bytes, person_id: int | None
    ) -> int:
        now = now_ms()
        await conn.execute(
            "INSERT INTO devices (device_id, person_id, status, created_at)"
            " VALUES ($1, $2, 'active', $3) ON CONFLICT (device_id)"
            " DO UPDATE SET person_id = excluded.person_id, status = 'active'",
            device_id,
            person_id,
            now,
        )
        last = await fetchrow(
            conn,
            "SELECT device_id, epoch, mac_key_wrapped, kek_id, status FROM device_keys"
            " WHERE device_id = $1 ORDER BY epoch DESC LIMIT 1",
            device_id,
        )
        if last is None:
            epoch = 0
        elif last["status"] == "active" and device_keys.unwrapped(self._kek, last) == mac_key:
            return int(last["epoch"])  # the same key again: no new epoch
        else:
            epoch = int(last["epoch"]) + 1
        if epoch > MAX_EPOCH:
            raise UsageError(
                f"device {device_id:08x} has used all {MAX_EPOCH + 1} key epochs: "
                "give the button a new device id"
            )
        await conn.execute(
            "UPDATE device_keys SET status = 'retired', ended_at = $2"
            " WHERE device_id = $1 AND status = 'active'",
            device_id,
            now,
        )
        wrapped, kek_id = device_keys.wrapped_row(self._kek, device_id, mac_key)
        await conn.execute(
            "INSERT INTO device_keys (device_id, epoch, mac_key_wrapped, kek_id, status,"
            " created_at) VALUES ($1, $2, $3, $4, 'active', $5)",
            device_id,
            epoch,
            wrapped,
            kek_id,
            now,
        )
        return epoch

    async def active_key(self, device_id: int) -> tuple[int, bytes, int | None] | None:
        async with self._connection() as conn:
            row = await fetchrow(
                conn,
                "SELECT k.device_id, k.epoch, k.mac_key_wrapped, k.kek_id, d.person_id"
                " FROM device_keys k JOIN devices d ON d.device_id = k.device_id"
                " WHERE k.device_id = $1 AND k.status = 'active'",
                device_id,
            )
        if row is None:
            return None
        return int(row["epoch"]), device_keys.unwrapped(self._kek, row), row["person_id"]

    async def link_phone(
        self, token_sha256: str, person_id: int, device_id: int, epoch: int | None = None
    ) -> int:
        async with self._transaction() as conn:
            return await self._link_phone(conn, token_sha256, person_id, device_id, epoch)

    async def has_phone_token(self, device_id: int, epoch: int) -> bool:
        async with self._connection() as conn:
            found = await fetchrow(
                conn,
                "SELECT 1 FROM phone_tokens t JOIN phones p ON p.id = t.phone_id"
                " WHERE p.device_id = $1 AND t.epoch = $2",
                device_id,
                epoch,
            )
        return found is not None

    async def _link_phone(
        self,
        conn: Connection,
        token_sha256: str,
        person_id: int,
        device_id: int,
        epoch: int | None,
    ) -> int:
        if epoch is None:
            last = await fetchrow(
                conn, "SELECT max(epoch) AS epoch FROM device_keys WHERE device_id = $1", device_id
            )
            epoch = 0 if last is None or last["epoch"] is None else int(last["epoch"])
        now = now_ms()
        row = await fetchrow(
            conn,
            "INSERT INTO phones (token_sha256, person_id, device_id, created_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (device_id) DO UPDATE"
            " SET token_sha256 = excluded.token_sha256, person_id = excluded.person_id"
            " RETURNING id",
            token_sha256,
            person_id,
            device_id,
            now,
        )
        assert row is not None  # DO UPDATE always returns the row
        phone_id = int(row["id"])
        # The epoch's earlier token (if any) gives way; other epochs keep theirs.
        await conn.execute(
            "DELETE FROM phone_tokens WHERE phone_id = $1 AND epoch = $2", phone_id, epoch
        )
        await conn.execute(
            "INSERT INTO phone_tokens (token_sha256, phone_id, epoch, created_at)"
            " VALUES ($1, $2, $3, $4)",
            token_sha256,
            phone_id,
            epoch,
            now,
        )
        return phone_id

    async def provision_device(
        self, device_id: int, mac_key: bytes, person_id: int, token_sha256: str
    ) -> int:
        async with self._transaction() as conn:
            await self._assign(conn, device_id, person_id)  # refuses before any change
            epoch = await self._register_device(conn, device_id, mac_key, person_id)
            await self._link_phone(conn, token_sha256, person_id, device_id, epoch)
        return epoch

    async def revoke_key(self, device_id: int, epoch: int) -> bool:
        async with self._transaction() as conn:
            row = await fetchrow(
                conn,
                "UPDATE device_keys SET status = 'revoked', ended_at = $3"
                " WHERE device_id = $1 AND epoch = $2 RETURNING epoch",
                device_id,
                epoch,
                now_ms(),
            )
        return row is not None

    async def revoke_device(self, device_id: int, reason: RevocationReason) -> Revocation | None:
        async with self._transaction() as conn:
            last = await fetchrow(
                conn,
                "SELECT k.epoch, k.status, d.status AS device_status FROM device_keys k"
                " JOIN devices d ON d.device_id = k.device_id"
                " WHERE k.device_id = $1 ORDER BY k.epoch DESC LIMIT 1",
                device_id,
            )
            if last is None:
                return None
            epoch = int(last["epoch"])
            if last["status"] == "revoked":
                return Revocation(device_id, epoch, last["device_status"], False)
            await conn.execute(
                "UPDATE device_keys SET status = 'revoked', ended_at = $3"
                " WHERE device_id = $1 AND epoch = $2",
                device_id,
                epoch,
                now_ms(),
            )
            await conn.execute(
                "UPDATE devices SET status = $2 WHERE device_id = $1", device_id, reason
            )
            await self._mark_lost(conn, device_id, reason)
        return Revocation(device_id, epoch, reason, True)

    async def record_security_event(
        self, device_id: int, counter: int, frame_type: int, phone_id: int | None
    ) -> SecurityEvent | None:
        async with self._transaction(urgent=True) as conn:
            row = await fetchrow(
                conn,
                "INSERT INTO security_events (at, kind, device_id, epoch, counter, frame_type,"
                " phone_id) VALUES ($1, 'revoked_key_frame', $2, $3, $4, $5, $6)"
                " ON CONFLICT (device_id, counter) DO NOTHING RETURNING id",
                now_ms(),
                device_id,
                counter >> 24,
                counter,
                frame_type,
                phone_id,
            )
            if row is None:
                return None
            rows = await conn.fetch(SECURITY_EVENTS + " WHERE s.id = $1", row["id"])
        return _security_event(rows[0])

    async def security_events(self, limit: int | None = None) -> list[SecurityEvent]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                SECURITY_EVENTS + " ORDER BY s.id DESC LIMIT $1", limit or 2**31 - 1
            )
        return [_security_event(r) for r in reversed(rows)]

    async def add_operator(
        self,
        name: str,
        token_sha256: str,
        role: str,
        zone: str | None = None,
        district: str | None = None,
    ) -> int:
        async with self._transaction() as conn:
            zone_id = district_id = None
            if zone is not None:
                found = await fetchrow(conn, "SELECT id FROM police_zones WHERE name = $1", zone)
                if found is None:
                    raise UsageError(f"no police zone {zone!r}: see `msa backend zones`")
                zone_id = int(found["id"])
            if district is not None:
                found = await fetchrow(
                    conn, "SELECT id FROM judicial_districts WHERE name = $1", district
                )
                if found is None:
                    raise UsageError(f"no judicial district {district!r}")
                district_id = int(found["id"])
            row = await fetchrow(
                conn,
                "INSERT INTO operators (name, token_sha256, role, created_at, zone_id, district_id)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE"
                " SET token_sha256 = excluded.token_sha256, role = excluded.role,"
                " zone_id = excluded.zone_id, district_id = excluded.district_id RETURNING id",
                name, token_sha256, role, now_ms(), zone_id, district_id,
            )  # fmt: skip
        assert row is not None
        return int(row["id"])

    # --- the phone's own reports --------------------------------------------------

    async def phone_by_token(self, token_sha256: str) -> int | None:
        async with self._reading() as conn:
            row = await fetchrow(
                conn, "SELECT phone_id FROM phone_tokens WHERE token_sha256 = $1", token_sha256
            )
        return None if row is None else int(row["phone_id"])

    async def commit_link_report(
        self, phone_id: int, off_at: int, on_at: int | None
    ) -> ReportOutcome:
        """An open period (`on_at` None) once; its end once. "committed", "duplicate",
        or "conflict" (another end for the same start)."""
        async with self._transaction() as conn:
            now = now_ms()
            row = await fetchrow(
                conn,
                "INSERT INTO link_reports (phone_id, off_at, on_at, received_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (phone_id, off_at) DO NOTHING RETURNING id",
                phone_id, off_at, on_at, now,
            )  # fmt: skip
            if row is not None:
                return "committed"
            if on_at is not None:
                closed = await fetchrow(
                    conn,
                    "UPDATE link_reports SET on_at = $3"
                    " WHERE phone_id = $1 AND off_at = $2 AND on_at IS NULL RETURNING id",
                    phone_id, off_at, on_at,
                )  # fmt: skip
                if closed is not None:
                    return "committed"
            first = await fetchrow(
                conn,
                "SELECT on_at FROM link_reports WHERE phone_id = $1 AND off_at = $2",
                phone_id, off_at,
            )  # fmt: skip
        assert first is not None  # the conflicting row exists and rows are never deleted
        # An open report after its end is an older copy of what is known: a duplicate.
        return "duplicate" if on_at is None or first["on_at"] == on_at else "conflict"

    async def commit_check_in(self, phone_id: int, checked_in_at: int) -> CheckInOutcome:
        """A check-in's identity is its instant: the same one again is a duplicate."""
        async with self._transaction() as conn:
            row = await fetchrow(
                conn,
                "INSERT INTO check_ins (phone_id, checked_in_at, received_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (phone_id, checked_in_at) DO NOTHING RETURNING id",
                phone_id, checked_in_at, now_ms(),
            )  # fmt: skip
        return "committed" if row is not None else "duplicate"

    async def _upsert_returning_id(self, sql: str, *args: object) -> int:
        async with self._transaction() as conn:
            row = await fetchrow(conn, sql, *args)
        assert row is not None  # DO UPDATE always returns the row
        return int(row["id"])


async def insert_case(conn: Connection, draft: CaseDraft) -> CaseIds:
    """The case, its persons and suspect, in the caller's transaction; the existing
    case (`created` False) when the reference is taken."""
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


def operator_row(row: Row, id_column: str = "id") -> Operator:
    """An operator from a row with its name, role, zone_id and district_id."""
    return Operator(row[id_column], row["name"], row["role"], row["zone_id"], row["district_id"])


async def insert_audit(conn: Connection, entry: AuditEntry) -> None:
    await conn.execute(queries.insert_audit(1), *audit_values(entry))


def audit_values(entry: AuditEntry) -> tuple[object, ...]:
    return (entry.at, entry.actor, entry.action, entry.subject, entry.case_id, entry.detail)


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
        frame.waiting,
        frame.waiting_alarms,
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


SECURITY_EVENTS = (
    "SELECT s.id, s.at, s.kind, s.device_id, s.epoch, s.counter, s.frame_type, s.phone_id,"
    " d.status AS device_status, c.reference AS case_reference FROM security_events s"
    " LEFT JOIN devices d ON d.device_id = s.device_id"
    " LEFT JOIN persons p ON p.id = d.person_id"
    " LEFT JOIN cases c ON c.id = p.case_id"
)


def _security_event(r: Row) -> SecurityEvent:
    return SecurityEvent(
        int(r["at"]),
        r["kind"],
        int(r["device_id"]),
        int(r["epoch"]),
        int(r["counter"]),
        int(r["frame_type"]),
        r["phone_id"],
        int(r["id"]),
        r["device_status"] or "active",
        r["case_reference"],
    )
