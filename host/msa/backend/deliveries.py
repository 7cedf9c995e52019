"""The audit of alarm deliveries to the consoles: written beside the stream, never in its way.

Every alarm handed to an operator is audited (`alarm.push`). The stream only
records the entry; a task of the app writes the entries in batches (one
statement for many). They go in the store's routine lane, behind no alarm: a
burst of alarms never waits for its own audit trail. Once its oldest entry has
waited `URGENT_AFTER_S`, a batch goes with the alarms (`Lanes` promotes it), so
that however long a burst lasts the trail is written within seconds.

Bounded: with `LIMIT` entries waiting (the database is down) `record` waits for
room, and the console's stream with it: a delivery is never left unaudited.
A write that fails is logged as an error and tried again; `aclose` writes what
is left before the store closes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable

from msa.backend.store import Store, StoreUnavailable
from msa.backend.store.base import AuditEntry
from msa.backend.store.queries import describe

log = logging.getLogger(__name__)

LIMIT = 20_000  # entries waiting: a few MB; minutes of deliveries to every console
BATCH = 500
URGENT_AFTER_S = 1.0
_RETRY_S = (0.1, 0.5, 2.0, 5.0)  # then every 5 s
FLUSH_TIMEOUT_S = 10.0


class DeliveryAudit:
    """Writes the audit entries it is given, in the background (see module docstring)."""

    def __init__(
        self,
        store: Store,
        limit: int = LIMIT,
        batch: int = BATCH,
        flush_timeout_s: float = FLUSH_TIMEOUT_S,
    ) -> None:
        self._store = store
        self._batch = batch
        self._flush_timeout_s = flush_timeout_s
        self._waiting: asyncio.Queue[tuple[float, AuditEntry]] = asyncio.Queue(limit)
        self._recorded = 0
        self._written = 0
        self._progress = asyncio.Condition()
        self._writer: asyncio.Task[None] | None = None

    async def record(self, entries: Iterable[AuditEntry]) -> None:
        """Have `entries` written; returns at once unless `LIMIT` entries wait already."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever(), name="delivery audit")
        now = time.monotonic()
        for entry in entries:
            await self._waiting.put((now, entry))
            self._recorded += 1

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every entry recorded before the call is written (True), or
        `timeout_s` (by default the `flush_timeout_s` given) went by (False: the
        database is failing, and the writer says so in the log)."""
        target = self._recorded
        if timeout_s is None:
            timeout_s = self._flush_timeout_s
        try:
            async with asyncio.timeout(timeout_s), self._progress:
                await self._progress.wait_for(lambda: self._written >= target)
        except TimeoutError:
            return False
        return True

    async def aclose(self) -> None:
        """Write what is waiting (for up to `flush_timeout_s`), then stop."""
        if self._writer is None:
            return
        if not await self.flush():
            log.error(
                "AUDIT INCOMPLETE: %d alarm deliveries not written at shutdown",
                self._recorded - self._written,
            )
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._waiting.get()]
            while len(batch) < self._batch and not self._waiting.empty():
                batch.append(self._waiting.get_nowait())
            await self._write(batch)
            async with self._progress:
                self._written += len(batch)
                self._progress.notify_all()

    async def _write(self, batch: list[tuple[float, AuditEntry]]) -> None:
        entries = [entry for _, entry in batch]
        for attempt in itertools.count():
            waited_s = time.monotonic() - batch[0][0]
            try:
                await self._store.audit(entries, max(0.0, URGENT_AFTER_S - waited_s))
                return
            except StoreUnavailable as error:
                wait_s = _RETRY_S[min(attempt, len(_RETRY_S) - 1)]
                log.error(
                    "AUDIT DELAYED: %d alarm deliveries not written yet (%s); again in %g s",
                    len(entries),
                    error,
                    wait_s,
                )
                await asyncio.sleep(wait_s)
            except Exception as error:  # an entry the database refuses: never the others
                if len(entries) == 1:
                    log.error("AUDIT LOST: %s refused: %s", entries[0], describe(error))
                    return
                for one in batch:
                    await self._write([one])
                return
