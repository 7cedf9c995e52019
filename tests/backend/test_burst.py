"""Every alarm reaches every console live, bursts included.

Several phones send 500 alarms between them, back to back, to a real backend
process, while two consoles read the alarm stream promptly. The bound: every
console receives every alarm on the connection it opened before the burst, as
an `event: alarm` after `ready` (live, not from a reconnect's backlog), once,
within `DEADLINE_S` of the last answer (a hang detector, not a latency goal: the
latency figures are `msa bench burst`'s), and the backend drops no console.
Every delivery is audited: the backend flushes the audit trail when it stops.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from bench._fleet import OPERATOR_TOKEN, Fleet, LoadClient, seed
from msa.waiting import cancelled
from protocol import frame
from tests.backend.conftest import count_rows, start_server
from tests.backend.util import EventStream

pytestmark = pytest.mark.slow

ALARMS = 500
SENDERS = 4
CONSOLES = 2
DEADLINE_S = 60.0


class Console:
    """A console on the alarm stream: the alarms it received live, in order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.live: list[int] = []
        self.ended = False
        self.ready = asyncio.Event()
        self.received = asyncio.Event()

    async def listen(self) -> None:
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        timeout = httpx.Timeout(10.0, read=None)
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=timeout) as client,
            client.stream("GET", "/api/v1/console/stream", headers=headers) as response,
        ):
            assert response.status_code == 200
            stream = EventStream(response)
            assert await stream.until_ready() == []
            self.ready.set()
            while True:
                try:
                    name, event = await stream.next(timeout_s=DEADLINE_S)
                except EOFError:
                    self.ended = True  # dropped by the backend
                    return
                assert name == "alarm", f"unexpected {name} event"
                self.live.append(event["alarm_id"])
                self.received.set()

    async def until_received(self, ids: set[int]) -> None:
        async with asyncio.timeout(DEADLINE_S):
            while not ids <= set(self.live) and not self.ended:
                self.received.clear()
                await self.received.wait()


async def send(url: str, fleet: Fleet, button: int, count: int) -> list[int]:
    """`count` alarms from one phone, each sent as soon as the previous was answered."""
    ids = []
    async with LoadClient(url, 1) as client:
        for _ in range(count):
            body = json.dumps(fleet.body(button, frame.ALARM)).encode()
            status, answer = await client.exchange("/api/v1/frames", body, fleet.token(button))
            assert status == 200, answer
            ids.append(json.loads(answer)["alarm_id"])
    return ids


async def test_a_burst_of_alarms_reaches_every_console_live(
    database_url: str, tmp_path: Path, kek, kek_file
):
    fleet = Fleet(SENDERS)
    await seed(database_url, fleet, kek)
    server = start_server(database_url, tmp_path / "backend.log", kek_file)
    consoles = [Console(server.url) for _ in range(CONSOLES)]
    listening = [asyncio.create_task(console.listen()) for console in consoles]
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(*(console.ready.wait() for console in consoles))
        per_sender = ALARMS // SENDERS
        sent = await asyncio.gather(
            *(send(server.url, fleet, button, per_sender) for button in range(SENDERS))
        )
        ids = {alarm_id for ids in sent for alarm_id in ids}
        assert len(ids) == ALARMS
        for console in consoles:
            await console.until_received(ids)
    finally:
        for task in listening:
            await cancelled(task)
        exit_code = await asyncio.to_thread(server.stop)
    for console in consoles:
        assert not console.ended, "the backend dropped a console that read promptly"
        assert len(console.live) == len(set(console.live)) == ALARMS
        assert set(console.live) == ids
    assert exit_code == 0
    # Every delivery audited (and nothing else was: no reads, no steps).
    assert (await count_rows(database_url))["audit"] == CONSOLES * ALARMS
