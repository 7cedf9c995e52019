"""A CIC console as the backend sees it: a subscriber to the alarm stream (SSE).

The web console in a browser does the same through EventSource; this one lets
the demo, the tests and the benchmarks see exactly when an alarm reached a
console. Given several backend nodes' URLs (`reconnect`), it does what a browser's
EventSource behind a load balancer does when its node goes: it connects again, to
the next node, with `Last-Event-ID`, and is sent what it missed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from msa.waiting import cancelled

log = logging.getLogger(__name__)

AlarmSeen = Callable[[dict[str, Any], float], None]


STREAM = "/api/v1/console/stream"


class ConsoleClient:
    def __init__(
        self, backend_url: str | Sequence[str], operator_token: str, reconnect: bool = False
    ) -> None:
        """`reconnect`: when the stream ends, connect again (to the next URL, if
        several), as EventSource does; else the stream's end is the client's."""
        urls = [backend_url] if isinstance(backend_url, str) else list(backend_url)
        self.urls = [url.rstrip("/") + STREAM for url in urls]
        self.reconnect = reconnect
        self.headers = {"Authorization": f"Bearer {operator_token}"}
        self.last_event_id: str | None = None
        self.connections = 0
        self.repeated = 0  # alarms sent twice as new on one connection (must stay 0)
        self._node = 0
        self._retry_s = 2.0  # until the stream's `retry:` says otherwise
        self._this_connection: set[int] = set()
        self.alarms: list[dict[str, Any]] = []
        self.on_alarm: AlarmSeen | None = None
        self._waiters: list[asyncio.Future[dict[str, Any]]] = []
        self._pushed = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))

    async def start(self, timeout: float = 10.0) -> None:
        """Subscribe; returns once the backlog of open alarms has arrived."""
        self._task = asyncio.create_task(self._listen())
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
        if self._task in done:
            ready.cancel()
            self._task.result()  # raises what went wrong
        if ready not in done:
            ready.cancel()
            raise TimeoutError(f"the console stream {self.url} did not get ready")

    def next_alarm(self) -> asyncio.Future[dict[str, Any]]:
        """A future for the next alarm event this console receives."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return future

    def shown(self) -> set[tuple[str, int]]:
        """The alarms pushed so far, as (device_id, counter)."""
        return {(event["device_id"], event["counter"]) for event in self.alarms}

    async def until_shown(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` distinct alarms have been pushed to this console."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.shown()) < count:
                    self._pushed.clear()
                    await self._pushed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{len(self.shown())} of {count} alarms pushed to the console in {timeout:.0f} s"
            ) from None

    @property
    def url(self) -> str:
        return self.urls[self._node]

    async def _listen(self) -> None:
        while True:
            try:
                await self._stream()
            except (httpx.TransportError, httpx.HTTPStatusError) as error:
                if not self.reconnect:
                    raise
                log.warning("console stream %s lost: %r", self.url, error)
            if not self.reconnect:
                return
            self._node = (self._node + 1) % len(self.urls)
            await asyncio.sleep(self._retry_s)  # EventSource's reconnection time

    async def _stream(self) -> None:
        headers = dict(self.headers)
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        async with self._client.stream("GET", self.url, headers=headers) as response:
            response.raise_for_status()
            self.connections += 1
            self._this_connection = set()
            name, data = "message", ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif line.startswith("id:"):
                    self.last_event_id = line[3:].strip()
                elif line.startswith("retry:") and line[6:].strip().isdigit():
                    self._retry_s = min(int(line[6:].strip()), 30_000) / 1000
                elif line == "":
                    if data or name == "ready":
                        self._dispatch(name, data)
                    name, data = "message", ""

    def _dispatch(self, name: str, data: str) -> None:
        if name == "ready":
            self._ready.set()
        elif name == "alarm":
            at = time.time()
            event = json.loads(data)
            if event["alarm_id"] in self._this_connection:
                self.repeated += 1
            self._this_connection.add(event["alarm_id"])
            self.alarms.append(event)
            self._pushed.set()
            if self.on_alarm is not None:
                self.on_alarm(event, at)
            waiters, self._waiters = self._waiters, []
            for future in waiters:
                if not future.done():
                    future.set_result(event)

    async def stop(self) -> None:
        if self._task is not None:
            await cancelled(self._task)
        await self._client.aclose()
