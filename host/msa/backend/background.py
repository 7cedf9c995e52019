"""A backend's background work that runs when woken and on its own schedule (the
magistrate's mail outbox, the evidence chainer): one task, `wake()` to run it now,
and a failed round (the database away) logged and tried again later.

A job that must run on one backend node at a time (the supervision's sweep, the
zones' reports) is given `Leases` (msa/backend/nodes.py): a round runs only while
this node holds the job's lease, renewed at every round; when the node holding it
dies, another takes the job within the lease's length (`msa backend serve --lease-s`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from msa.waiting import cancelled, within

if TYPE_CHECKING:
    from msa.backend.nodes import Leases

log = logging.getLogger(__name__)


class WokenTask(ABC):
    name = "background task"
    retry_s = 1.0  # after a failed round

    def __init__(self, leases: Leases | None = None) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._leases = leases
        self.held = leases is None  # this node runs the job (always, without leases)

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
                wait_s = await self._leased_round()
            except Exception as error:  # noqa: BLE001 (the database may be away; try later)
                log.error("%s: %s", self.name, error)
                wait_s = self.retry_s
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), wait_s)

    async def _leased_round(self) -> float:
        if self._leases is None:
            return await self.round()
        held = await self._leases.hold(self.name)
        if held != self.held:
            log.info("%s: %s on this node", self.name, "runs" if held else "runs elsewhere")
            self.held = held
        renew_s = self._leases.lease_s / 3  # two renewals may fail before the lease lapses
        return min(await self.round(), renew_s) if held else renew_s
