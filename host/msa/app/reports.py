"""What the 112 app tells the backend about itself (protocol/SPEC.md §7.2), and the
victim's trail while an alarm is open:

- a check-in every `check_in_s` (the phone is online);
- a link report when Bluetooth goes off (open) and when it is back on (closed);
- for each alarm the backend committed, a fix every `trail_every_s` until the CIC
  closes the alarm (409 `alarm_closed`) or `trail_for_s` has passed.

Reports are sent in order and retried with back-off until the backend answers
(a 4xx other than 401 is final, and logged). Only the latest check-in waits: an
older one says nothing the latest does not.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from msa.app.forwarder import DEFINITIVE, FIRST_RETRY_S, MAX_RETRY_S, Forwarder
from msa.app.location import Location
from msa.timefmt import to_iso
from msa.waiting import all_cancelled

log = logging.getLogger(__name__)

CHECK_IN_S = 900.0  # the backend's supervision expects one at least this often
TRAIL_EVERY_S = 5.0
TRAIL_FOR_S = 1800.0
CHECK_IN = "/api/v1/check-ins"
LINK_REPORTS = "/api/v1/link-reports"


class PhoneReports:
    def __init__(
        self,
        forwarder: Forwarder,
        location: Location,
        *,
        check_in_s: float = CHECK_IN_S,
        trail_every_s: float = TRAIL_EVERY_S,
        trail_for_s: float = TRAIL_FOR_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.forwarder = forwarder
        self.location = location
        self.check_in_s = check_in_s
        self.trail_every_s = trail_every_s
        self.trail_for_s = trail_for_s
        self._clock = clock
        self._queue: collections.deque[tuple[str, dict[str, Any]]] = collections.deque()
        self._queued = asyncio.Event()
        self._trails: dict[int, asyncio.Task[None]] = {}
        self.sent = collections.Counter[str]()  # what the backend took, per path
        self.fixes = 0

    # -- what happens to the phone ---------------------------------------------------

    def bluetooth_off(self, at: float | None = None) -> float:
        """Bluetooth went off at `at` (now): reported at once, as an open period."""
        off = self._clock() if at is None else at
        self._put(LINK_REPORTS, {"bluetooth_off_at": _iso(off)})
        return off

    def bluetooth_on(self, off_at: float, at: float | None = None) -> None:
        """Bluetooth is back on: the period that began at `off_at` is closed."""
        on = self._clock() if at is None else at
        self._put(LINK_REPORTS, {"bluetooth_off_at": _iso(off_at), "bluetooth_on_at": _iso(on)})

    def follow(self, alarm_id: int) -> None:
        """The backend committed alarm `alarm_id`: send its trail (once per alarm)."""
        if alarm_id not in self._trails:
            self._trails[alarm_id] = asyncio.create_task(
                self._trail(alarm_id), name=f"phone: trail of alarm {alarm_id}"
            )

    # -- the tasks ---------------------------------------------------------------------

    async def run(self) -> None:
        parts = [
            asyncio.create_task(self._check_in(), name="phone: check-ins"),
            asyncio.create_task(self._send(), name="phone: reports"),
        ]
        try:
            done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_EXCEPTION)
            for part in done:
                part.result()
        finally:
            await all_cancelled([*parts, *self._trails.values()])

    async def _check_in(self) -> None:
        while True:
            # Only the newest check-in waits: drop one still queued.
            self._queue = collections.deque(item for item in self._queue if item[0] != CHECK_IN)
            self._put(CHECK_IN, {"at": _iso(self._clock())})
            await asyncio.sleep(self.check_in_s)

    async def _send(self) -> None:
        retry_s = FIRST_RETRY_S
        while True:
            if not self._queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            path, body = self._queue[0]
            if await self._post(path, body):
                self._queue.popleft()
                retry_s = FIRST_RETRY_S
                continue
            await asyncio.sleep(retry_s)
            retry_s = min(retry_s * 2, MAX_RETRY_S)

    async def _post(self, path: str, body: dict[str, Any]) -> bool:
        """True when the report is settled: taken, or refused for good."""
        try:
            response = await self._request(path, body)
        except httpx.HTTPError as error:
            log.warning("report %s not sent: %r", path, error)
            return False
        if response.status_code == 200:
            self.sent[path] += 1
            return True
        if response.status_code in DEFINITIVE:
            log.error("the backend refused the report %s %s: %s", path, body, response.text[:200])
            return True
        log.warning("report %s: %d, retried", path, response.status_code)
        return False

    async def _trail(self, alarm_id: int) -> None:
        path = f"/api/v1/alarms/{alarm_id}/locations"
        until = self._clock() + self.trail_for_s
        while self._clock() < until:
            await asyncio.sleep(self.trail_every_s)
            try:
                response = await self._request(path, self.location.current())
            except httpx.HTTPError as error:
                log.warning("fix for alarm %d not sent: %r", alarm_id, error)
                continue  # the next fix is newer anyway
            if response.status_code == 200:
                self.fixes += 1
            elif response.status_code == 409:
                log.info("alarm %d is closed: its trail ends", alarm_id)
                return
            elif response.status_code in DEFINITIVE:
                log.error("fix for alarm %d refused: %s", alarm_id, response.text[:200])
                return

    async def _request(self, path: str, body: dict[str, Any]) -> httpx.Response:
        forwarder = self.forwarder
        return await forwarder.post_json(path, body, forwarder.latest_token())

    def _put(self, path: str, body: dict[str, Any]) -> None:
        self._queue.append((path, body))
        self._queued.set()


def _iso(at: float) -> str:
    return to_iso(round(at * 1000))
