"""Routine traffic waits at the phone, never in front of an alarm.

A backend past its capacity queues work in its event loop, where an alarm would
wait behind every heartbeat that arrived before it. So routine frames are
admitted only while fewer than `limit` are being worked on; beyond that they are
answered at once with 503 and Retry-After (the phone keeps them in its outbox
and sends them again: nothing is lost), and the backend's time goes to alarms.
Alarms are never turned away here.

The event loop is what an alarm and the heartbeats share even then: every hop of
the alarm's (its database step, its push) waits for the loop to finish what is
ready, and for the GIL the loop holds meanwhile. So while an alarm that passed its
checks is on its way (`alarm()`), the routine frames admitted wait (`step_aside`)
before their work and before their answer, up to STEP_ASIDE_S each time: under the
1,700/s flood the alarm's p99 went from 6.7-10.6 ms to 5.7-8.6 ms, its ratio to idle
from 3 in 5 runs under 1.5x to 5 in 5 (msa bench flood, docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

from msa.backend.errors import ApiError

# Measured with msa bench flood (1,700 heartbeats/s, 2 cores), before heartbeats were
# committed in groups: at 32 every heartbeat got in but an alarm's p99 was 5x its idle
# p99; at 8 the alarm's was 1.4x but one heartbeat in six was turned away; at 16, 1.5 %
# turned away and about 2x. With group commit, at 16: 0.1-0.5 % turned away, 1.5-1.9x.
ROUTINE_LIMIT = 16
RETRY_AFTER_S = 5
STEP_ASIDE_S = 0.05  # the longest a routine frame waits for alarms to go through


class RoutineGate:
    def __init__(self, limit: int = ROUTINE_LIMIT) -> None:
        self.limit = limit
        self.in_flight = 0
        self.turned_away = 0
        self.aside = 0  # routine frames waiting for alarms to go through
        self.alarms = 0  # alarms on their way
        self._no_alarm = asyncio.Event()
        self._no_alarm.set()

    @contextmanager
    def alarm(self) -> Iterator[None]:
        """An alarm on its way: routine frames admitted step aside (`step_aside`)."""
        self.alarms += 1
        self._no_alarm.clear()
        try:
            yield
        finally:
            self.alarms -= 1
            if not self.alarms:
                self._no_alarm.set()

    async def step_aside(self) -> None:
        """Wait while an alarm is on its way (at most STEP_ASIDE_S: alarms one after
        another do not starve routine traffic)."""
        if self._no_alarm.is_set():
            return
        self.aside += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STEP_ASIDE_S):
                    await self._no_alarm.wait()
        finally:
            self.aside -= 1

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            self.turned_away += 1
            raise ApiError(
                503,
                "busy",
                "The backend is busy with alarms and routine traffic; nothing was stored. "
                f"Send this frame again in {RETRY_AFTER_S} s.",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
