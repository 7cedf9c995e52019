"""The delivery audit: written beside the stream, every entry, whatever the database does."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from msa.backend.deliveries import DeliveryAudit
from msa.backend.store import StoreUnavailable
from msa.backend.store.base import AuditEntry


def entries(count: int, first: int = 1) -> list[AuditEntry]:
    return [
        AuditEntry(1_795_000_000_000 + n, "operator:1", "alarm.push", f"alarm:{n}", 1)
        for n in range(first, first + count)
    ]


class FlakyStore:
    """Fails the first `failures` writes as unavailable; refuses any entry of `refused`;
    holds every write while `gate` is clear."""

    def __init__(self, failures: int = 0, refused: frozenset[str] = frozenset()) -> None:
        self.failures = failures
        self.refused = refused
        self.written: list[AuditEntry] = []
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def audit(
        self, batch: Sequence[AuditEntry], promote_after_s: float | None = None
    ) -> None:
        self.calls += 1
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("the database is down")
        if any(entry.subject in self.refused for entry in batch):
            raise ValueError("refused")
        self.written += batch


async def test_every_entry_is_written_in_batches_on_each_engine(store):
    audit = DeliveryAudit(store, batch=250)
    await audit.record(entries(600))
    assert await audit.flush()
    assert (await store.counts())["audit"] == 600
    assert [e.subject for e in await store.audit_trail(1)] == [f"alarm:{n}" for n in range(1, 601)]
    await audit.aclose()


async def test_a_database_that_fails_loses_nothing():
    store = FlakyStore(failures=2)
    audit = DeliveryAudit(store)  # type: ignore[arg-type]
    await audit.record(entries(3))
    assert await audit.flush()
    assert [e.subject for e in store.written] == ["alarm:1", "alarm:2", "alarm:3"]
    assert store.calls == 3  # twice refused as unavailable, then written
    await audit.aclose()


async def test_an_entry_the_database_refuses_fails_alone():
    store = FlakyStore(refused=frozenset({"alarm:2"}))
    audit = DeliveryAudit(store)  # type: ignore[arg-type]
    await audit.record(entries(3))
    assert await audit.flush()
    assert [e.subject for e in store.written] == ["alarm:1", "alarm:3"]
    await audit.aclose()


async def test_recording_waits_for_room_when_the_limit_is_reached():
    store = FlakyStore()
    store.gate.clear()  # the database does not answer
    audit = DeliveryAudit(store, limit=2, batch=1)  # type: ignore[arg-type]
    await audit.record(entries(3))  # one taken by the writer, two waiting
    blocked = asyncio.create_task(audit.record(entries(1, first=4)))
    await asyncio.sleep(0)
    assert not blocked.done()  # never dropped, never buffered past the limit
    store.gate.set()
    await blocked
    assert await audit.flush()
    assert [e.subject for e in store.written] == [f"alarm:{n}" for n in range(1, 5)]
    await audit.aclose()


async def test_closing_writes_what_waits_and_says_when_it_cannot(caplog):
    store = FlakyStore()
    audit = DeliveryAudit(store)  # type: ignore[arg-type]
    await audit.record(entries(2))
    await audit.aclose()
    assert len(store.written) == 2

    stuck = FlakyStore()
    stuck.gate.clear()
    audit = DeliveryAudit(stuck, flush_timeout_s=0)  # type: ignore[arg-type]
    await audit.record(entries(2))
    assert not await audit.flush()
    await audit.aclose()
    assert "AUDIT INCOMPLETE: 2 alarm deliveries not written at shutdown" in caplog.text
