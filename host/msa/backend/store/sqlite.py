"""The SQLite store: one file, nothing to install; the default engine.

One connection writes, in WAL mode with `synchronous=FULL` (a commit survives a
power cut), foreign keys on. Its operations take turns through one-place `Lanes`
(alarms first), which is also what makes a transaction: SQLite has one writer at
a time anyway. A second connection, `query_only`, does the reads (the consoles'
alarms and pages, tokens, routine frames' phones and devices): in WAL mode a
reader neither waits for the writer nor holds it up. A third, also
`query_only`, does the scheduled jobs' long reads (the supervision's sweep, the
zones' reports: `_background_reading`), so that no alarm's read waits behind
them. (`:memory:` is one database per connection: there the writer reads too.)

Each connection is a `SqliteThread`: a thread of its own, to which each call is
one hop, and to which `run(work)` makes several statements one hop. Under a
heartbeat flood every hop waits its turn on the event loop, so an alarm's commit
is one hop on the writer (`commit_alarm`): its phone and device read and judged
again inside its transaction (a key revoked since ingest judged it cannot slip
in), its frame and alarm written, and after COMMIT the alarm read as the consoles
see it; and a read of alarms, seven statements, is one hop too. The file is
created mode 0600; SQLite gives its -wal and -shm files the same mode.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TypeVar

from msa.backend.keys import Kek
from msa.backend.store import queries
from msa.backend.store.all_roles import AllRolesSql
from msa.backend.store.base import (
    Admit,
    Alarm,
    Commit,
    IngestContext,
    NewFrame,
    StoreUnavailable,
    UnreadableAlarm,
)
from msa.backend.store.lanes import Lanes
from msa.backend.store.queries import AlarmRows
from msa.backend.store.sql import Connection, Row, frame_values
from msa.private_files import create_private
from msa.timefmt import now_ms

Result = TypeVar("Result")
log = logging.getLogger(__name__)

_PARAMETER = re.compile(r"\$(\d+)")

# SQLite result codes that mean "not now" rather than "this SQL is wrong".
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN")


@lru_cache(maxsize=256)
def _sqlite_sql(sql: str) -> str:
    return _PARAMETER.sub(r"?\1", sql)


def _dict_row(cursor: sqlite3.Cursor, row: tuple[object, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteThread:
    """A sqlite3 connection on a thread of its own (a `Connection`)."""

    def __init__(self, db: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._db = db
        self._thread = thread
        self._closed = False

    @classmethod
    async def open(cls, path: str, name: str, *pragmas: str) -> SqliteThread:
        """Connect to `path` on a thread named after `name`, with `pragmas` set."""
        thread = ThreadPoolExecutor(1, thread_name_prefix=f"msa-sqlite-{name}")

        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                db.row_factory = _dict_row
                for pragma in pragmas:
                    db.execute(f"PRAGMA {pragma}").close()
            except BaseException:
                db.close()
                raise
            return db

        try:
            db = await asyncio.get_running_loop().run_in_executor(thread, connect)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        return cls(db, thread)

    async def run(self, work: Callable[[sqlite3.Connection], Result]) -> Result:
        """`work(connection)`, on the connection's thread: one hop."""
        if self._closed:
            raise ValueError("no active connection")
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, self._db)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return await self.run(partial(_rows, sql=sql, args=args))

    async def execute(self, sql: str, *args: object) -> None:
        await self.fetch(sql, *args)

    async def run_script(self, script: str) -> None:
        await self.run(partial(_run_script, script=script))

    async def in_transaction(self) -> bool:
        return await self.run(lambda db: db.in_transaction)

    async def close(self) -> None:
        if not self._closed:
            await self.run(sqlite3.Connection.close)
            self._closed = True
            self._thread.shutdown()


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it would commit the transaction we are in.
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement).close()
            statement = ""
    if statement.strip():
        raise ValueError(f"unterminated SQL statement in script: {statement.strip()[:80]}")


def _rows(db: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> list[Row]:
    cursor = db.execute(_sqlite_sql(sql), args)
    try:
        return cursor.fetchall()
    finally:
        # A row that fails to convert (text that is not UTF-8) leaves its statement
        # open, and with it a read transaction on an old snapshot, until the cursor
        # is collected: every read until then would miss newer commits.
        cursor.close()


def _alarm_rows(
    db: sqlite3.Connection, reads: list[tuple[str, tuple[object, ...]]]
) -> AlarmRows | None:
    rows = _rows(db, *reads[0])
    if not rows:
        return None
    return AlarmRows(rows, *(_rows(db, *read) for read in reads[1:]))


# The read connections: one for the reads of alarms, heartbeats and pages, one for
# the scheduled jobs' long reads (`_background_reading`).
READERS = ("reader", "background")


class SqliteStore(AllRolesSql):
    """A `Store` in one SQLite file (or `:memory:`)."""

    dialect = "sqlite"

    def __init__(
        self,
        writer: SqliteThread,
        path: str,
        readers: dict[str, SqliteThread] | None = None,
        kek: Kek | None = None,
    ) -> None:
        super().__init__(kek)
        self._writer = writer
        self._lanes = Lanes(1)
        # READERS' connections, each taking turns of its own; none (`:memory:`): the writer reads
        self._readers = {name: (reader, Lanes(1)) for name, reader in (readers or {}).items()}
        self.path = path

    @classmethod
    async def open(
        cls, path: str, *, busy_timeout_ms: int = 5000, kek: Kek | None = None
    ) -> SqliteStore:
        """Open (creating it and its folder if needed) the database file at `path`.

        A write that waits longer than `busy_timeout_ms` for another process's
        lock fails with StoreUnavailable. `kek` wraps and unwraps device keys.
        """
        busy = f"busy_timeout = {int(busy_timeout_ms)}"
        opened: list[SqliteThread] = []
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                create_private(Path(path))
            write = ("journal_mode = WAL", "synchronous = FULL", busy, "foreign_keys = ON")
            opened.append(await SqliteThread.open(path, "writer", *write))
            if path != ":memory:":
                for name in READERS:
                    opened.append(await SqliteThread.open(path, name, "query_only = ON", busy))
        except (OSError, sqlite3.Error) as error:
            for connection in opened:
                await connection.close()
            raise StoreUnavailable(f"cannot open SQLite database {path}: {error}") from error
        return cls(opened[0], path, dict(zip(READERS, opened[1:], strict=False)), kek)

    async def _close(self) -> None:
        for reader, lanes in self._readers.values():
            async with lanes.enter():
                await reader.close()
        async with self._lanes.enter():
            await self._writer.close()

    async def _lock_migrations(self, conn: Connection) -> None:
        pass  # BEGIN IMMEDIATE already holds the database's one write lock

    async def _erase_freed_space(self) -> None:
        # VACUUM writes every live page anew (through the WAL); the checkpoint
        # moves them into the file and empties the WAL of the old pages.
        async with self._connection() as conn:
            await conn.execute("VACUUM")
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @asynccontextmanager
    async def _connection(self, urgent: bool = False) -> AsyncIterator[SqliteThread]:
        async with self._lanes.enter(urgent):
            with _unavailable_on_failure(self.path):
                yield self._writer

    @asynccontextmanager
    async def _read_on(self, reader: str, urgent: bool = False) -> AsyncIterator[SqliteThread]:
        """The read connection `reader` (of READERS), in its turn."""
        if not self._readers:
            async with self._connection(urgent) as conn:
                yield conn
            return
        connection, lanes = self._readers[reader]
        async with lanes.enter(urgent):
            with _unavailable_on_failure(self.path):
                yield connection

    def _reading(self, urgent: bool = False) -> AbstractAsyncContextManager[SqliteThread]:
        return self._read_on("reader", urgent)

    def _background_reading(self) -> AbstractAsyncContextManager[SqliteThread]:
        return self._read_on("background")

    async def _alarm_rows(
        self, reads: list[tuple[str, tuple[object, ...]]], urgent: bool
    ) -> AlarmRows | None:
        async with self._reading(urgent) as conn:
            return await conn.run(partial(_alarm_rows, reads=reads))

    @asynccontextmanager
    async def _transaction(
        self, urgent: bool = False, promote_after_s: float | None = None
    ) -> AsyncIterator[SqliteThread]:
        async with self._lanes.enter(urgent, promote_after_s):
            with _unavailable_on_failure(self.path):
                await self._writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self._writer
                except BaseException:
                    await self._writer.execute("ROLLBACK")
                    raise
                try:
                    await self._writer.execute("COMMIT")
                except BaseException:
                    if await self._writer.in_transaction():
                        await self._writer.execute("ROLLBACK")
                    raise

    async def commit_alarm(
        self, token_sha256: str, device_id: int, admit: Admit
    ) -> tuple[IngestContext, Commit]:
        # One turn on the writer's thread for the whole way: under a flood, each
        # turn waits for the event loop, busy with heartbeats, to hand it back.
        committed_at = now_ms()
        work = partial(
            _commit_alarm,
            asked=(token_sha256, device_id),
            context_of=lambda row: self._context(row, None),
            admit=admit,
            committed_at=committed_at,
        )
        async with self._lanes.enter(urgent=True):
            with _unavailable_on_failure(self.path):
                done = await self._writer.run(work)
        if done.alarm_id is None:  # the frame's (device, counter) was taken: a duplicate, or worse
            return done.context, await self.commit_frame(done.frame)
        commit = Commit("committed", done.frame_id, committed_at, done.alarm_id, done.alarm)
        return done.context, commit


@dataclass(frozen=True, slots=True)
class _AlarmDone:
    context: IngestContext
    frame: NewFrame
    frame_id: int = 0
    alarm_id: int | None = None  # None: nothing written, the (device, counter) is taken
    alarm: Alarm | UnreadableAlarm | None = None


def _commit_alarm(
    db: sqlite3.Connection,
    asked: tuple[str, int],
    context_of: Callable[[Row], IngestContext],
    admit: Admit,
    committed_at: int,
) -> _AlarmDone:
    """An alarm, on the writer's thread, in one transaction: its context read
    and `admit`ted, its frame and alarm rows written; then, after the commit and
    in the same step, the alarm as the consoles see it."""
    db.execute("BEGIN IMMEDIATE").close()
    try:
        rows = _rows(db, queries.ingest_contexts(1), (0, *asked, None))
        context, frame = admit(context_of(rows[0]) if rows else None)
        if frame.alarm is None:
            raise ValueError(f"commit_alarm was given a {frame.type:#x} frame without an alarm")
        inserted = _rows(db, queries.insert_frames(1), frame_values(frame, committed_at))
        if not inserted:
            db.execute("ROLLBACK").close()
            return _AlarmDone(context, frame)
        frame_id = int(inserted[0]["id"])
        alarm = frame.alarm
        alarm_values = (frame_id, alarm.kind, alarm.person_id, alarm.case_id, alarm.pressed_at)
        alarm_id = int(_rows(db, queries.INSERT_ALARM, alarm_values)[0]["id"])
        db.execute("COMMIT").close()
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK").close()
        raise
    try:
        found = _alarm_rows(db, queries.alarm_reads("a.id = $1", (alarm_id,)))
        shown = queries.alarms_from_rows(found) if found is not None else []
    except Exception as error:  # committed all the same: the announcer reads it its own way
        log.warning("alarm %d committed; its read for the consoles failed: %s", alarm_id, error)
        shown = []
    return _AlarmDone(context, frame, frame_id, alarm_id, shown[0] if shown else None)


@contextmanager
def _unavailable_on_failure(path: str) -> Iterator[None]:
    """Turn a transient SQLite error (or a closed connection) into StoreUnavailable."""
    try:
        yield
    except sqlite3.Error as error:
        if not _is_transient(error):
            raise
        raise StoreUnavailable(f"SQLite database {path}: {error}") from error
    except ValueError as error:  # SqliteThread, once closed: "no active connection"
        if "no active connection" not in str(error):
            raise
        raise StoreUnavailable(f"SQLite database {path} is closed") from error


def _is_transient(error: sqlite3.Error) -> bool:
    name = getattr(error, "sqlite_errorname", "")
    return name.startswith(_TRANSIENT) or (
        isinstance(error, sqlite3.OperationalError) and "database is locked" in str(error)
    )
