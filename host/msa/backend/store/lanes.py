"""Alarms first: the store's gate to the database, with an urgent lane.

Every store operation enters the gate. Urgent entries (an alarm: its token
lookup and its commit) are let in before any routine entry that waits, and
routine traffic (heartbeats, console reads) may never take the last `reserved`
places, so an alarm finds the database free however many heartbeats queue.
SQLite has one place (one writer); PostgreSQL as many as its connection pool.
A routine entry may ask to be promoted: once it has waited `promote_after_s`, it
queues with the urgent ones (the audit trail is routine, but may not wait for
as long as alarms keep coming).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Lanes:
    def __init__(self, places: int, reserved: int = 0) -> None:
        if not 0 <= reserved < places:
            raise ValueError(f"reserve fewer than the {places} places, not {reserved}")
        self.places = places
        self.reserved = reserved
        self.busy = 0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._routine: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def enter(
        self, urgent: bool = False, promote_after_s: float | None = None
    ) -> AsyncIterator[None]:
        await self._acquire(urgent, promote_after_s)
        try:
            yield
        finally:
            self.busy -= 1
            self._wake()

    def _can_enter(self, urgent: bool) -> bool:
        if urgent:
            return self.busy < self.places
        return not self._urgent and self.busy < self.places - self.reserved

    async def _acquire(self, urgent: bool, promote_after_s: float | None) -> None:
        queue = self._urgent if urgent else self._routine
        if not queue and self._can_enter(urgent):
            self.busy += 1
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        queue.append(waiter)
        promotion = None
        if not urgent and promote_after_s is not None:
            promotion = loop.call_later(promote_after_s, self._promote, waiter)
        try:
            await waiter  # _wake() counted us in before setting the result
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.busy -= 1  # let in, but cancelled before running: give the place back
                self._wake()
            else:  # not yet passed over by _wake()
                for waiting in (self._routine, self._urgent):
                    if waiter in waiting:
                        waiting.remove(waiter)
            raise
        finally:
            if promotion is not None:
                promotion.cancel()

    def _promote(self, waiter: asyncio.Future[None]) -> None:
        if waiter in self._routine:
            self._routine.remove(waiter)
            self._urgent.append(waiter)
            self._wake()

    def _wake(self) -> None:
        for queue, urgent in ((self._urgent, True), (self._routine, False)):
            while queue and self._can_enter(urgent):
                waiter = queue.popleft()
                if not waiter.done():
                    self.busy += 1
                    waiter.set_result(None)
