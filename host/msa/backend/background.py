"""A backend's background work that runs when woken and on its own schedule (the
magistrate's mail outbox, the evidence chainer): one task, `wake()` to run it now,
and a failed round (the database away) logged and tried again later."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from msa.waiting import cancelled, within

log = logging.getLogger(__name__)


class WokenTask(ABC):
    name = "background task"
    retry_s = 1.0  # after a failed round

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def round(self) -> float:
        """Do what is due; the seconds until the next round, unless woken first."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        self._wake.set()

    async def aclose(self) -> None:
        if self._task is not None:
            await cancelled(self._task)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait_s = await self.round()
            except Exception as error:  # noqa: BLE001 (the database may be away; try later)
                log.error("%s: %s", self.name, error)
                wait_s = self.retry_s
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), wait_s)
