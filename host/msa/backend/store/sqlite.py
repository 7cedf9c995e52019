"""The SQLite store: one file, nothing to install; the default engine.

One connection writes (aiosqlite), in WAL mode with `synchronous=FULL` (a commit
survives a power cut), foreign keys on. Its operations take turns through
one-place `Lanes` (alarms first), which is also what makes a transaction: SQLite
has one writer at a time anyway. A second connection, `query_only`, does the
reads (alarms for the consoles, tokens): in WAL mode a reader neither waits for
the writer nor holds it up, so an alarm's way to the consoles never queues
behind commits. (`:memory:` is one database per connection: there the writer
reads too.) The reader is a `SqliteReader`: a thread of its own, to which a
whole read of alarms, seven statements, is one hop (aiosqlite makes each call
a hop, and offers no public way to run several in one). The file is created
mode 0600; SQLite gives its -wal and -shm files the same mode.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import TypeVar

import aiosqlite

from msa.backend.keys import Kek
from msa.backend.store.all_roles import AllRolesSql
from msa.backend.store.base import StoreUnavailable
from msa.backend.store.lanes import Lanes
from msa.backend.store.queries import AlarmRows
from msa.backend.store.sql import Connection, Row
from msa.private_files import create_private

Result = TypeVar("Result")

_PARAMETER = re.compile(r"\$(\d+)")

# SQLite result codes that mean "not now" rather than "this SQL is wrong".
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN")


@lru_cache(maxsize=256)
def _sqlite_sql(sql: str) -> str:
    return _PARAMETER.sub(r"?\1", sql)


def _dict_row(cursor: sqlite3.Cursor, row: tuple[object, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteConnection:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, *args: object) -> None:
        await self._db.execute_fetchall(_sqlite_sql(sql), args)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        cursor = await self._db.execute(_sqlite_sql(sql), args)
        try:
            return list(await cursor.fetchall())
        except BaseException:
            await cursor.close()  # see _rows
            raise

    async def run_script(self, script: str) -> None:
        # Not executescript(): it would commit the transaction we are in.
        statement = ""
        for line in script.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                await self._db.execute(statement)
                statement = ""
        if statement.strip():
            raise ValueError(f"unterminated SQL statement in script: {statement.strip()[:80]}")


class SqliteReader:
    """A `query_only` connection on a thread of its own (a `Connection` for reads)."""

    def __init__(self, db: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._db = db
        self._thread = thread
        self._closed = False

    @classmethod
    async def open(cls, path: str, busy_timeout_ms: int) -> SqliteReader:
        thread = ThreadPoolExecutor(1, thread_name_prefix="msa-sqlite-reader")

        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                db.row_factory = _dict_row
                db.execute("PRAGMA query_only = ON")
                db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
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

    async def run(self, read: Callable[[sqlite3.Connection], Result]) -> Result:
        """`read(connection)`, on the reader's thread."""
        if self._closed:
            raise ValueError("no active connection")  # as aiosqlite says it, once closed
        return await asyncio.get_running_loop().run_in_executor(self._thread, read, self._db)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return await self.run(partial(_rows, sql=sql, args=args))

    async def execute(self, sql: str, *args: object) -> None:
        await self.fetch(sql, *args)  # query_only: SQLite refuses a write

    async def run_script(self, script: str) -> None:
        raise sqlite3.ProgrammingError("the read connection runs no scripts")

    async def close(self) -> None:
        if not self._closed:
            await self.run(sqlite3.Connection.close)
            self._closed = True
            self._thread.shutdown()


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


class SqliteStore(AllRolesSql):
    """A `Store` in one SQLite file (or `:memory:`)."""

    dialect = "sqlite"

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: str,
        reader: SqliteReader | None = None,
        kek: Kek | None = None,
    ) -> None:
        super().__init__(kek)
        self._db = db
        self._conn = SqliteConnection(db)
        self._lanes = Lanes(1)
        self._reader = reader
        self._read_lanes = Lanes(1)
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
        db = reader = None
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                create_private(Path(path))
            db = await _connect(path, "journal_mode = WAL", "synchronous = FULL", busy)
            await db.execute("PRAGMA foreign_keys = ON")
            if path != ":memory:":
                reader = await SqliteReader.open(path, busy_timeout_ms)
        except (OSError, sqlite3.Error) as error:
            if db is not None:
                await db.close()
            raise StoreUnavailable(f"cannot open SQLite database {path}: {error}") from error
        return cls(db, path, reader, kek)

    async def _close(self) -> None:
        if self._reader is not None:
            async with self._read_lanes.enter():
                await self._reader.close()
        async with self._lanes.enter():
            await self._db.close()

    async def _lock_migrations(self, conn: Connection) -> None:
        pass  # BEGIN IMMEDIATE already holds the database's one write lock

    async def _erase_freed_space(self) -> None:
        # VACUUM writes every live page anew (through the WAL); the checkpoint
        # moves them into the file and empties the WAL of the old pages.
        async with self._connection() as conn:
            await conn.execute("VACUUM")
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @asynccontextmanager
    async def _connection(self, urgent: bool = False) -> AsyncIterator[SqliteConnection]:
        async with self._lanes.enter(urgent):
            with _unavailable_on_failure(self.path):
                yield self._conn

    @asynccontextmanager
    async def _reading(self, urgent: bool = False) -> AsyncIterator[Connection]:
        if self._reader is None:
            async with self._connection(urgent) as conn:
                yield conn
            return
        async with self._read_lanes.enter(urgent):
            with _unavailable_on_failure(self.path):
                yield self._reader

    async def _alarm_rows(
        self, reads: list[tuple[str, tuple[object, ...]]], urgent: bool
    ) -> AlarmRows | None:
        if self._reader is None:
            return await super()._alarm_rows(reads, urgent)
        async with self._read_lanes.enter(urgent):
            with _unavailable_on_failure(self.path):
                return await self._reader.run(partial(_alarm_rows, reads=reads))

    @asynccontextmanager
    async def _transaction(
        self, urgent: bool = False, promote_after_s: float | None = None
    ) -> AsyncIterator[SqliteConnection]:
        async with self._lanes.enter(urgent, promote_after_s):
            with _unavailable_on_failure(self.path):
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    await self._db.execute("ROLLBACK")
                    raise
                try:
                    await self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        await self._db.execute("ROLLBACK")
                    raise


async def _connect(path: str, *pragmas: str) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    db.row_factory = _dict_row
    try:
        for pragma in pragmas:
            await db.execute(f"PRAGMA {pragma}")
    except BaseException:
        await db.close()
        raise
    return db


@contextmanager
def _unavailable_on_failure(path: str) -> Iterator[None]:
    """Turn a transient SQLite error (or a closed connection) into StoreUnavailable."""
    try:
        yield
    except sqlite3.Error as error:
        if not _is_transient(error):
            raise
        raise StoreUnavailable(f"SQLite database {path}: {error}") from error
    except ValueError as error:  # aiosqlite, once closed: "no active connection"
        if "no active connection" not in str(error):
            raise
        raise StoreUnavailable(f"SQLite database {path} is closed") from error


def _is_transient(error: sqlite3.Error) -> bool:
    name = getattr(error, "sqlite_errorname", "")
    return name.startswith(_TRANSIENT) or (
        isinstance(error, sqlite3.OperationalError) and "database is locked" in str(error)
    )
