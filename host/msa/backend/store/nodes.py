"""The store's side of several backend nodes on one database (msa/backend/nodes.py):
the scheduled jobs' leases, the alarms' revisions for a node catching up, and the
mail outbox's claims. On PostgreSQL the nodes also tell each other of each alarm
at once (`notify`, `listen`: postgres.py); SQLite is one node's, and says nothing.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from msa.backend.store.base import Listening, Notification
from msa.backend.store.queries import NOTIFICATION_COLUMNS
from msa.backend.store.sql import Connection, fetchrow

TAKE_LEASE = """
INSERT INTO job_leases (job, holder, until_at)
VALUES ($1, $2, CAST($3 AS BIGINT) + CAST($4 AS BIGINT))
ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, until_at = excluded.until_at
WHERE job_leases.holder = excluded.holder OR job_leases.until_at < CAST($3 AS BIGINT)
RETURNING holder"""

# Claimed by pushing the next attempt past the claim: no other node takes the mail
# while this one sends it, and if this one dies, any node sends it once the claim
# lapses. The outer conditions are checked again on a row another node changed
# meanwhile (PostgreSQL's READ COMMITTED), so two claims never both win a mail.
CLAIM_MAIL = """
UPDATE notifications SET next_attempt_at = CAST($1 AS BIGINT) + CAST($3 AS BIGINT)
WHERE id IN (SELECT id FROM notifications
             WHERE sent_at IS NULL AND next_attempt_at <= $1 ORDER BY id LIMIT $2{skip_locked})
  AND sent_at IS NULL AND next_attempt_at <= $1
RETURNING {columns}"""


class NodeSql:
    dialect: str

    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    @abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[Connection]: ...

    async def take_lease(self, job: str, holder: str, now: int, lease_ms: int) -> bool:
        async with self._connection() as conn:
            return await fetchrow(conn, TAKE_LEASE, job, holder, now, lease_ms) is not None

    async def last_alarm_id(self) -> int:
        async with self._connection() as conn:
            row = await fetchrow(conn, "SELECT MAX(id) AS id FROM alarms")
        return int(row["id"] or 0) if row else 0

    async def alarm_revisions(self, after_id: int, ids: Sequence[int]) -> dict[int, int]:
        known = ", ".join(f"${n}" for n in range(3, 3 + len(ids))) or "NULL"
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT id, revision FROM alarms WHERE id > $1 OR status <> $2 OR id IN ({known})",
                after_id,
                "closed",
                *ids,
            )
        return {int(row["id"]): int(row["revision"]) for row in rows}

    async def claim_notifications(
        self, now: int, claim_ms: int, limit: int = 20
    ) -> list[Notification]:
        skip = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""
        sql = CLAIM_MAIL.format(skip_locked=skip, columns=NOTIFICATION_COLUMNS)
        async with self._transaction() as conn:
            rows = await conn.fetch(sql, now, limit, claim_ms)
        return sorted((Notification(**row) for row in rows), key=lambda n: n.id)

    async def notify(self, channel: str, payloads: Sequence[str]) -> None:
        """SQLite is one node's: nobody to tell."""

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> Listening | None:
        return None  # SQLite: nobody else to hear
