"""The PostgreSQL store (asyncpg): production and CI.

A connection pool; every `Store` method takes one connection for one transaction,
through `Lanes` that keep the last connections for alarms.
Lost connections, a server shutting down or refusing, and transient conflicts
become `StoreUnavailable`, which the HTTP layer answers with 503 so the phone retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg

from msa.backend.keys import Kek
from msa.backend.store import queries
from msa.backend.store.all_roles import AllRolesSql
from msa.backend.store.base import Commit, Listening, NewAlarm, NewFrame, StoreUnavailable
from msa.backend.store.lanes import Lanes
from msa.backend.store.sql import (
    Connection,
    Row,
    committed_before,
    fetchrow,
    frame_values,
)
from msa.timefmt import now_ms

_ACQUIRE_TIMEOUT_S = 5.0
_ALARM_CONNECTIONS = 2  # of the pool, never taken by routine traffic
_MIGRATION_LOCK = 0x6D7361  # any constant; "msa"

_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # includes "connection was closed" and "pool is closing"
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock
    # target_session_attrs=read-write, and no listed host takes writes yet (a standby
    # being promoted)
    asyncpg.exceptions.TargetServerAttributeNotMatched,
)


class PostgresConnection:
    def __init__(self, raw: asyncpg.Connection) -> None:
        self._raw = raw

    async def execute(self, sql: str, *args: object) -> None:
        await self._raw.execute(sql, *args)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return [dict(record) for record in await self._raw.fetch(sql, *args)]

    async def run_script(self, script: str) -> None:
        await self._raw.execute(script)  # no arguments: the simple protocol, many statements


# An alarm's frame and alarm rows in one statement (SQLite has no INSERT in WITH):
# one round trip and one commit instead of four; no row when the frame was there.
_WIDTH = len(queries.FRAME_COLUMNS)
INSERT_FRAME_AND_ALARM = f"""
WITH frame AS ({queries.insert_frames(1)})
INSERT INTO alarms (frame_id, kind, status, person_id, case_id, pressed_at)
SELECT frame.id, ${_WIDTH + 1}, 'open', ${_WIDTH + 2}, ${_WIDTH + 3}, ${_WIDTH + 4} FROM frame
RETURNING id, frame_id"""


class PostgresStore(AllRolesSql):
    """A `Store` in a PostgreSQL database, given by a `postgresql://` URL."""

    dialect = "postgresql"

    def __init__(
        self, pool: asyncpg.Pool, url: str, max_connections: int, kek: Kek | None = None
    ) -> None:
        super().__init__(kek)
        self._pool = pool
        self._lanes = Lanes(max_connections, reserved=_ALARM_CONNECTIONS)
        self.url = url

    @classmethod
    async def open(
        cls, url: str, *, max_connections: int = 10, kek: Kek | None = None
    ) -> PostgresStore:
        """Connect a pool to the database at `url`; `kek` wraps and unwraps device keys."""
        try:
            # All open from the start: an alarm must not wait for a connection handshake.
            pool = await asyncpg.create_pool(
                url, min_size=max_connections, max_size=max_connections, reset=_session_kept
            )
        except (*_TRANSIENT, asyncpg.PostgresError) as error:
            raise StoreUnavailable(f"cannot reach PostgreSQL at {_public(url)}: {error}") from error
        return cls(pool, url, max_connections, kek)

    async def _close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _connection(self, urgent: bool = False) -> AsyncIterator[Connection]:
        try:
            async with (
                self._lanes.enter(urgent),
                self._pool.acquire(timeout=_ACQUIRE_TIMEOUT_S) as raw,
            ):
                yield PostgresConnection(raw)
        except _TRANSIENT as error:
            raise self._unavailable(error) from error

    @asynccontextmanager
    async def _transaction(
        self, urgent: bool = False, promote_after_s: float | None = None
    ) -> AsyncIterator[Connection]:
        try:
            async with (
                self._lanes.enter(urgent, promote_after_s),
                self._pool.acquire(timeout=_ACQUIRE_TIMEOUT_S) as raw,
                raw.transaction(),
            ):
                yield PostgresConnection(raw)
        except _TRANSIENT as error:
            raise self._unavailable(error) from error

    async def _commit_alarm_frame(self, frame: NewFrame, alarm: NewAlarm) -> Commit:
        committed_at = now_ms()
        async with self._connection(urgent=True) as conn:
            inserted = await fetchrow(
                conn,
                INSERT_FRAME_AND_ALARM,
                *frame_values(frame, committed_at),
                alarm.kind,
                alarm.person_id,
                alarm.case_id,
                alarm.pressed_at,
            )
            if inserted is None:
                return await committed_before(conn, frame)
        return Commit("committed", inserted["frame_id"], committed_at, inserted["id"])

    def _ids_condition(self, alarm_ids: Sequence[int]) -> tuple[str, tuple[object, ...]]:
        # One statement for any number of ids, so its plan is cached per connection
        # (planning the alarm query's eleven joins costs more than running it); one
        # id alone has a plan of its own, faster still (measured: 0.9 ms against 1.3).
        if len(alarm_ids) == 1:
            return super()._ids_condition(alarm_ids)
        return "a.id = ANY($1::bigint[])", (list(alarm_ids),)

    async def _lock_migrations(self, conn: Connection) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)

    async def _erase_freed_space(self) -> None:
        # Dead row versions stay in the table's pages until a rewrite; VACUUM FULL
        # writes the live ones to a new file (the server's WAL still holds the old
        # rows until it recycles them: docs/operations.md).
        async with self._connection() as conn:
            await conn.execute("VACUUM FULL devices")

    async def notify(self, channel: str, payloads: Sequence[str]) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", channel, list(payloads)
            )

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> Listening:
        try:
            raw = await asyncpg.connect(self.url, timeout=_ACQUIRE_TIMEOUT_S)
        except (*_TRANSIENT, asyncpg.PostgresError) as error:
            raise self._unavailable(error) from error
        listening = PostgresListening(raw, channel, on_payload)
        try:
            await listening.start()
        except (*_TRANSIENT, asyncpg.PostgresError) as error:
            await listening.aclose()
            raise self._unavailable(error) from error
        return listening

    def _unavailable(self, error: BaseException) -> StoreUnavailable:
        detail = str(error) or type(error).__name__
        return StoreUnavailable(f"PostgreSQL at {_public(self.url)}: {detail}")


class PostgresListening:
    """LISTEN on a connection of its own (the pool's are never changed)."""

    def __init__(
        self, raw: asyncpg.Connection, channel: str, on_payload: Callable[[str], None]
    ) -> None:
        self.lost = asyncio.Event()
        self._raw = raw
        self._channel = channel
        self._listener = lambda _conn, _pid, _channel, payload: on_payload(payload)
        raw.add_termination_listener(lambda _conn: self.lost.set())

    async def start(self) -> None:
        await self._raw.add_listener(self._channel, self._listener)

    async def aclose(self) -> None:
        self.lost.set()
        with contextlib.suppress(*_TRANSIENT, asyncpg.PostgresError):
            await self._raw.close(timeout=_ACQUIRE_TIMEOUT_S)


async def _session_kept(_connection: asyncpg.Connection) -> None:
    """The pool's reset after each use, without asyncpg's default reset query (a
    round trip per use). The store never changes a session: no SET, LISTEN,
    cursor or session lock; an open transaction is still rolled back by asyncpg."""


def _public(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
