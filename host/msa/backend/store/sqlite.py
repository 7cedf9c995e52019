"""The SQLite store: one file, nothing to install; the default engine.

One connection, in WAL mode with `synchronous=FULL` (a commit survives a power
cut), foreign keys on. Its operations take turns through one-place `Lanes`
(alarms first), which is also what makes a transaction: SQLite has one writer
at a time anyway. The file is created mode 0600; SQLite gives its -wal and -shm
files the same mode.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from pathlib import Path

import aiosqlite

from msa.backend.keys import Kek
from msa.backend.store.base import StoreUnavailable
from msa.backend.store.lanes import Lanes
from msa.backend.store.sessions import SessionSql
from msa.backend.store.sql import Connection, Row, SqlStore
from msa.backend.store.workflow import WorkflowSql
from msa.private_files import create_private

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
        return list(await self._db.execute_fetchall(_sqlite_sql(sql), args))

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


class SqliteStore(WorkflowSql, SessionSql, SqlStore):
    """A `Store` in one SQLite file (or `:memory:`)."""

    dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection, path: str, kek: Kek | None = None) -> None:
        super().__init__(kek)
        self._db = db
        self._conn = SqliteConnection(db)
        self._lanes = Lanes(1)
        self.path = path

    @classmethod
    async def open(
        cls, path: str, *, busy_timeout_ms: int = 5000, kek: Kek | None = None
    ) -> SqliteStore:
        """Open (creating it and its folder if needed) the database file at `path`.

        A write that waits longer than `busy_timeout_ms` for another process's
        lock fails with StoreUnavailable. `kek` wraps and unwraps device keys.
        """
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                create_private(Path(path))
            db = await aiosqlite.connect(path, isolation_level=None)
            db.row_factory = _dict_row
            for pragma in (
                "journal_mode = WAL",
                "synchronous = FULL",
                "foreign_keys = ON",
                f"busy_timeout = {int(busy_timeout_ms)}",
            ):
                await db.execute(f"PRAGMA {pragma}")
        except (OSError, sqlite3.Error) as error:
            raise StoreUnavailable(f"cannot open SQLite database {path}: {error}") from error
        return cls(db, path, kek)

    async def _close(self) -> None:
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
    async def _transaction(self, urgent: bool = False) -> AsyncIterator[SqliteConnection]:
        async with self._lanes.enter(urgent):
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
