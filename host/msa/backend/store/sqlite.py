"""The SQLite store: one file, nothing to install; the default engine.

One connection writes, in WAL mode with `synchronous=FULL` (a commit survives a
power cut), foreign keys on. Its operations take turns through one-place `Lanes`
(alarms first), which is also what makes a transaction: SQLite has one writer
at a time anyway. A second connection, `query_only`, does the reads (alarms for
the consoles, tokens): in WAL mode a reader neither waits for the writer nor
holds it up, so an alarm's way to the consoles never queues behind commits.
(`:memory:` is one database per connection: there the writer reads too.)
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from pathlib import Path

import aiosqlite

from msa.backend.store.base import StoreUnavailable
from msa.backend.store.lanes import Lanes
from msa.backend.store.sql import Connection, Row, SqlStore
from msa.backend.store.workflow import WorkflowSql

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
            # A row that fails to convert (text that is not UTF-8) leaves the statement
            # open, and with it a read transaction on an old snapshot, until the
            # cursor is collected: every read until then would miss newer commits.
            await cursor.close()
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


class SqliteStore(WorkflowSql, SqlStore):
    """A `Store` in one SQLite file (or `:memory:`)."""

    dialect = "sqlite"

    def __init__(
        self, db: aiosqlite.Connection, path: str, reader: aiosqlite.Connection | None = None
    ) -> None:
        super().__init__()
        self._db = db
        self._conn = SqliteConnection(db)
        self._lanes = Lanes(1)
        self._reader = reader
        self._read_conn = None if reader is None else SqliteConnection(reader)
        self._read_lanes = Lanes(1)
        self.path = path

    @classmethod
    async def open(cls, path: str, *, busy_timeout_ms: int = 5000) -> SqliteStore:
        """Open (creating it and its folder if needed) the database file at `path`.

        A write that waits longer than `busy_timeout_ms` for another process's
        lock fails with StoreUnavailable.
        """
        busy = f"busy_timeout = {int(busy_timeout_ms)}"
        db = reader = None
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = await _connect(path, "journal_mode = WAL", "synchronous = FULL", busy)
            await db.execute("PRAGMA foreign_keys = ON")
            if path != ":memory:":
                reader = await _connect(path, "query_only = ON", busy)
        except (OSError, sqlite3.Error) as error:
            if db is not None:
                await db.close()
            raise StoreUnavailable(f"cannot open SQLite database {path}: {error}") from error
        return cls(db, path, reader)

    async def _close(self) -> None:
        if self._reader is not None:
            async with self._read_lanes.enter():
                await self._reader.close()
        async with self._lanes.enter():
            await self._db.close()

    async def _lock_migrations(self, conn: Connection) -> None:
        pass  # BEGIN IMMEDIATE already holds the database's one write lock

    @asynccontextmanager
    async def _connection(self, urgent: bool = False) -> AsyncIterator[SqliteConnection]:
        async with self._lanes.enter(urgent):
            with _unavailable_on_failure(self.path):
                yield self._conn

    @asynccontextmanager
    async def _reading(self, urgent: bool = False) -> AsyncIterator[SqliteConnection]:
        if self._read_conn is None:
            async with self._connection(urgent) as conn:
                yield conn
            return
        async with self._read_lanes.enter(urgent):
            with _unavailable_on_failure(self.path):
                yield self._read_conn

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
