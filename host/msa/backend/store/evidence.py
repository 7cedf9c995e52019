"""The store's side of the evidence log (msa/backend/evidence.py).

Operator steps and case decisions (their audit entries) and location fixes are
chained in the transaction that writes them (`audit_as_evidence`, `chain_fix`).
Alarms are committed without it, one statement for speed, and are chained by the
next of: a step or a fix of their case (which chains the case's alarms first, so a
chain never has a step before its alarm), or `EvidenceSql.chain_evidence()`, which
the backend runs after each alarm and every few seconds (msa/backend/chainer.py).

A chain grows under its head's row lock (`UPDATE evidence_heads`), and what is
still unchained is read after taking it: two writers of one case take turns, and
neither chains a row the other has.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractAsyncContextManager
from typing import Any

from msa.backend.evidence import GENESIS, Entry, Kind, canonical, link
from msa.backend.store import queries
from msa.backend.store.base import AuditEntry
from msa.backend.store.sql import Connection, audit_values, fetchrow

# Deliveries and reads are the audit trail's (who saw what), not facts of the case.
NOT_EVIDENCE = ("alarm.push", "alarm.read")

_UNCHAINED_ALARMS = """
SELECT a.id, a.kind, a.person_id, a.pressed_at, f.device_id, f.counter, f.received_at,
       f.committed_at, f.lat, f.lon, f.accuracy_m
FROM alarms a JOIN frames f ON f.id = a.frame_id
WHERE a.case_id = $1
  AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.kind = 'alarm' AND e.source_id = a.id)
ORDER BY a.id"""

Item = tuple[Kind, int, int, dict[str, Any]]  # kind, source row's id, at (ms), facts


class EvidenceSql:
    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    @abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[Connection]: ...

    async def chain_evidence(self, case_id: int | None = None) -> int:
        if case_id is not None:
            async with self._transaction() as conn:
                return await chain_alarms(conn, case_id)
        async with self._connection() as conn:
            cases = await conn.fetch(
                "SELECT DISTINCT a.case_id FROM alarms a WHERE NOT EXISTS"
                " (SELECT 1 FROM evidence e WHERE e.kind = 'alarm' AND e.source_id = a.id)"
            )
        chained = 0
        for row in cases:
            async with self._transaction() as conn:
                chained += await chain_alarms(conn, int(row["case_id"]))
        return chained

    async def evidence(self, case_id: int) -> tuple[list[Entry], tuple[int, str]]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT seq, at, kind, body, prev_hash, hash FROM evidence"
                " WHERE case_id = $1 ORDER BY seq",
                case_id,
            )
            head = await fetchrow(
                conn, "SELECT seq, hash FROM evidence_heads WHERE case_id = $1", case_id
            )
        entries = [Entry(**row) for row in rows]
        return entries, (0, GENESIS) if head is None else (int(head["seq"]), str(head["hash"]))


async def audit_as_evidence(conn: Connection, entry: AuditEntry) -> None:
    """The audit entry written, and chained into its case's evidence."""
    row = await fetchrow(conn, queries.insert_audit(1) + " RETURNING id", *audit_values(entry))
    assert row is not None
    if entry.case_id is None or entry.action in NOT_EVIDENCE:
        return
    facts = {"actor": entry.actor, "action": entry.action, "subject": entry.subject,
             "detail": entry.detail}  # fmt: skip
    await _chain(conn, entry.case_id, [("audit", int(row["id"]), entry.at, facts)])


async def chain_fix(conn: Connection, case_id: int, fix_id: int, facts: dict[str, Any]) -> None:
    """A location fix of an alarm, chained after its alarm."""
    await _chain(conn, case_id, [("fix", fix_id, int(facts["received_at"]), facts)])


async def chain_alarms(conn: Connection, case_id: int) -> int:
    """The case's alarms not chained yet, chained; how many."""
    return await _chain(conn, case_id, [])


async def _chain(conn: Connection, case_id: int, items: list[Item]) -> int:
    """The case's unchained alarms, then `items`, appended to its chain."""
    await conn.execute(
        "INSERT INTO evidence_heads (case_id, seq, hash) VALUES ($1, 0, $2)"
        " ON CONFLICT (case_id) DO NOTHING",
        case_id,
        GENESIS,
    )
    head = await fetchrow(
        conn,
        "UPDATE evidence_heads SET seq = seq WHERE case_id = $1 RETURNING seq, hash",
        case_id,
    )
    assert head is not None
    alarms: list[Item] = [
        ("alarm", int(row["id"]), int(row["committed_at"]), _alarm_facts(row))
        for row in await conn.fetch(_UNCHAINED_ALARMS, case_id)
    ]
    seq, prev = int(head["seq"]), str(head["hash"])
    for kind, source_id, at, facts in alarms + items:
        seq += 1
        body = canonical(facts)
        digest = link(prev, seq, at, kind, body)
        await conn.execute(
            "INSERT INTO evidence (case_id, seq, at, kind, source_id, body, prev_hash, hash)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            case_id, seq, at, kind, source_id, body, prev, digest,
        )  # fmt: skip
        prev = digest
    await conn.execute(
        "UPDATE evidence_heads SET seq = $2, hash = $3 WHERE case_id = $1", case_id, seq, prev
    )
    return len(alarms)


def _alarm_facts(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "alarm_id": int(row["id"]),
        "kind": row["kind"],
        "device_id": f"{int(row['device_id']):08x}",
        "counter": int(row["counter"]),
        "person_id": int(row["person_id"]),
        "pressed_at": row["pressed_at"],
        "received_at": int(row["received_at"]),
        "committed_at": int(row["committed_at"]),
        "lat": row["lat"],
        "lon": row["lon"],
        "accuracy_m": row["accuracy_m"],
    }
