"""Alarms first: the store's gate to the database, with an urgent lane.

Every store operation enters the gate. Urgent entries (an alarm: its token
lookup and its commit) are let in before any routine entry that waits, and
routine traffic (heartbeats, console reads) may never take the last `reserved`
places, so an alarm finds the database free however many heartbeats queue.
SQLite has one place (one writer); PostgreSQL as many as its connection pool.
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
    async def enter(self, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self.busy -= 1
            self._wake()

    def _can_enter(self, urgent: bool) -> bool:
        if urgent:
            return self.busy < self.places
        return not self._urgent and self.busy < self.places - self.reserved

    async def _acquire(self, urgent: bool) -> None:
        queue = self._urgent if urgent else self._routine
        if not queue and self._can_enter(urgent):
            self.busy += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter  # _wake() counted us in before setting the result
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.busy -= 1  # let in, but cancelled before running: give the place back
                self._wake()
            elif waiter in queue:  # not yet passed over by _wake()
                queue.remove(waiter)
            raise

    def _wake(self) -> None:
        for queue, urgent in ((self._urgent, True), (self._routine, False)):
            while queue and self._can_enter(urgent):
                waiter = queue.popleft()
                if not waiter.done():
                    self.busy += 1
                    waiter.set_result(None)
