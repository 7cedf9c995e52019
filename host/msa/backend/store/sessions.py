"""Operator sessions and single-use log-in links: the `SessionStore` role of the store.

`SessionSql` implements it on the shared SQL and is mixed into both engines'
stores; `session_store(store)` gives that role of an opened store. The store
only records and reads: when a session is idle or over is decided by the
caller (msa.backend.sessions), with its own clock. Secrets never reach the
database, only their SHA-256.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from msa.backend.store.base import AuditEntry, Operator
from msa.backend.store.queries import Row
from msa.backend.store.sql import Connection, fetchrow, insert_audit, operator_row


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    operator: Operator
    created_at: int
    last_seen_at: int
    expires_at: int  # absolute
    ended_at: int | None  # logged out


@dataclass(frozen=True, slots=True)
class NewSession:
    token_sha256: str
    source: str  # the client's address
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What opening a log-in link did: `opened` a session, or why it did not."""

    outcome: Literal["opened", "unknown", "used", "expired"]
    operator: Operator | None = None  # known unless `unknown`
    session_id: int | None = None  # when `opened`


@runtime_checkable
class SessionStore(Protocol):
    """Log-in links and the sessions they open. Each method is one transaction."""

    async def add_login_link(
        self, operator_name: str, code_sha256: str, created_at: int, expires_at: int
    ) -> Operator | None:
        """Store a link for the operator with this name; None when there is none."""
        ...

    async def redeem_login_link(self, code_sha256: str, session: NewSession) -> Redeemed:
        """Use the link (once, before it expires) to open `session`, and audit the
        log-in; a link used or expired is refused and changes nothing."""
        ...

    async def session(self, token_sha256: str) -> Session | None:
        """The session with this token hash, ended or not; None when unknown."""
        ...

    async def touch_session(self, session_id: int, at: int) -> bool:
        """Record activity at `at`; False when the session was ended meanwhile."""
        ...

    async def end_session(self, token_sha256: str, at: int, source: str) -> Session | None:
        """End (log out) the session with this hash and audit it; None when it is
        unknown or was ended before."""
        ...


def session_store(store: object) -> SessionStore:
    """The session role of a store from `open_store` (every SQL store has it)."""
    if not isinstance(store, SessionStore):
        raise TypeError(f"{type(store).__name__} keeps no operator sessions")
    return store


_SESSION = """
SELECT s.id, s.created_at, s.last_seen_at, s.expires_at, s.ended_at,
       o.id AS operator_id, o.name, o.role, o.zone_id, o.district_id
FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
WHERE s.token_sha256 = $1"""

_LINK = """
SELECT l.id, l.expires_at, l.used_at, o.id AS operator_id, o.name, o.role, o.zone_id,
       o.district_id
FROM login_links l JOIN operators o ON o.id = l.operator_id
WHERE l.code_sha256 = $1"""


def _actor(operator: Operator) -> str:
    return f"operator:{operator.id}"


def _session(row: Row) -> Session:
    return Session(
        row["id"],
        operator_row(row, "operator_id"),
        row["created_at"],
        row["last_seen_at"],
        row["expires_at"],
        row["ended_at"],
    )


class SessionSql:
    """`SessionStore` on SQL both engines understand; mixed into `SqlStore`'s engines."""

    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    @abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[Connection]: ...

    async def add_login_link(
        self, operator_name: str, code_sha256: str, created_at: int, expires_at: int
    ) -> Operator | None:
        async with self._transaction() as conn:
            row = await fetchrow(
                conn,
                "SELECT id, name, role, zone_id, district_id FROM operators WHERE name = $1",
                operator_name,
            )
            if row is None:
                return None
            await conn.execute(
                "INSERT INTO login_links (code_sha256, operator_id, created_at, expires_at)"
                " VALUES ($1, $2, $3, $4)",
                code_sha256,
                row["id"],
                created_at,
                expires_at,
            )
        return operator_row(row)

    async def redeem_login_link(self, code_sha256: str, session: NewSession) -> Redeemed:
        at = session.created_at
        async with self._transaction() as conn:
            link = await fetchrow(conn, _LINK, code_sha256)
            if link is None:
                return Redeemed("unknown")
            operator = operator_row(link, "operator_id")
            if link["used_at"] is not None:
                return Redeemed("used", operator)
            if link["expires_at"] <= at:
                return Redeemed("expired", operator)
            # `used_at IS NULL` again: of two racing uses, the second updates nothing.
            claimed = await fetchrow(
                conn,
                "UPDATE login_links SET used_at = $2 WHERE id = $1 AND used_at IS NULL"
                " RETURNING id",
                link["id"],
                at,
            )
            if claimed is None:
                return Redeemed("used", operator)
            opened = await fetchrow(
                conn,
                "INSERT INTO operator_sessions (token_sha256, operator_id, source, created_at,"
                " last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
                session.token_sha256,
                operator.id,
                session.source,
                at,
                session.expires_at,
            )
            assert opened is not None
            session_id = int(opened["id"])
            await conn.execute(
                "UPDATE login_links SET session_id = $2 WHERE id = $1", link["id"], session_id
            )
            await insert_audit(
                conn,
                AuditEntry(
                    at,
                    _actor(operator),
                    "operator.login",
                    f"session:{session_id}",
                    detail=f"from {session.source}",
                ),
            )
        return Redeemed("opened", operator, session_id)

    async def session(self, token_sha256: str) -> Session | None:
        async with self._connection() as conn:
            row = await fetchrow(conn, _SESSION, token_sha256)
        return None if row is None else _session(row)

    async def touch_session(self, session_id: int, at: int) -> bool:
        async with self._connection() as conn:  # one statement: its own transaction
            row = await fetchrow(
                conn,
                "UPDATE operator_sessions"
                " SET last_seen_at = CASE WHEN last_seen_at < $2 THEN $2 ELSE last_seen_at END"
                " WHERE id = $1 AND ended_at IS NULL RETURNING id",
                session_id,
                at,
            )
        return row is not None

    async def end_session(self, token_sha256: str, at: int, source: str) -> Session | None:
        async with self._transaction() as conn:
            row = await fetchrow(conn, _SESSION, token_sha256)
            if row is None or row["ended_at"] is not None:
                return None
            await conn.execute(
                "UPDATE operator_sessions SET ended_at = $2 WHERE id = $1", row["id"], at
            )
            ended = _session({**row, "ended_at": at})
            await insert_audit(
                conn,
                AuditEntry(
                    at,
                    _actor(ended.operator),
                    "operator.logout",
                    f"session:{ended.id}",
                    detail=f"from {source}",
                ),
            )
        return ended
