"""The evidence chainer: alarms are committed in one statement, for speed, without
their evidence entry; this task chains them (store/evidence.py), woken after each
alarm and every few seconds anyway, so an alarm committed just before a crash is
chained by the next backend to start. It never holds up an alarm's push."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from msa.backend.store import Store
from msa.waiting import cancelled, within

log = logging.getLogger(__name__)

CHAIN_EVERY_S = 5.0


class EvidenceChainer:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="evidence chainer")

    def wake(self) -> None:
        self._wake.set()

    async def aclose(self) -> None:
        if self._task is not None:
            await cancelled(self._task)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._store.chain_evidence()
            except Exception as error:  # noqa: BLE001 (the database may be away; try later)
                log.error("evidence chainer: %s", error)
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), CHAIN_EVERY_S)
