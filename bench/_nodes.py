"""Several backend nodes on one PostgreSQL, with phones and consoles that know
them all: what tests/backend/test_failover.py and `msa bench failover` run.

A phone (`RelayingPhone`) is the 112 app's outbox and forwarder, given every
node's URL; a console is `ConsoleClient` on its node, reconnecting to the next.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench._fleet import LOCATION, OPERATOR_TOKEN, Fleet
from msa.app.forwarder import Forwarder
from msa.app.outbox import Entry, Outbox
from msa.backend.process import BackendProcess
from msa.demo.console_client import ConsoleClient
from msa.waiting import cancelled
from protocol import frame

FRAME_EVERY_S = 0.25  # per phone; every third frame is an alarm


class RelayingPhone:
    """A phone of the 112 app: its outbox, its forwarder with both nodes' URLs."""

    def __init__(self, fleet: Fleet, button: int, urls: list[str], folder: Path) -> None:
        self.fleet, self.button = fleet, button
        self.outbox = Outbox(folder / f"phone-{button}.db")
        self.forwarder = Forwarder(self.outbox, urls, fleet.token(button))
        self.forwarder.on_delivered = self._delivered
        self.acknowledged: set[int] = set()  # alarm ids the backend answered with
        self.sent = 0
        self._running = asyncio.create_task(self.forwarder.run())

    def _delivered(self, entry: Entry, answer: dict) -> None:
        if answer.get("alarm_id") is not None:
            self.acknowledged.add(answer["alarm_id"])

    def press_or_beat(self) -> tuple[int, int] | None:
        """Put the phone's next frame in its outbox (every third an alarm); the
        alarm's (device, counter), or None."""
        kind = frame.ALARM if self.sent % 3 == 0 else frame.HEARTBEAT
        self.sent += 1
        sent = frame.parse(self.fleet.next_frame(self.button, kind))
        self.outbox.put(sent, LOCATION)
        self.forwarder.wake()
        return (sent.device_id, sent.counter) if kind == frame.ALARM else None

    async def close(self) -> None:
        await cancelled(self._running)
        await self.forwarder.close()


class Nodes:
    """`count` nodes of `msa backend serve` on one database, a console on each."""

    def __init__(self, database_url: str, folder: Path, kek_file: Path, count: int = 2) -> None:
        self.nodes = [
            BackendProcess(database_url, folder / f"node-{n}.log", kek_file) for n in range(count)
        ]
        self.database_url, self.folder = database_url, folder
        self.phones: list[RelayingPhone] = []
        self.consoles: list[ConsoleClient] = []

    async def start(self, fleet: Fleet, phones: range) -> list[str]:
        """Start the nodes, a console on each, and a phone for each of the fleet's
        buttons `phones`, each talking to another node first."""
        urls = [await node.start() for node in self.nodes]
        for n in range(len(urls)):  # a console on each node; the next ones are its fallback
            console = ConsoleClient(urls[n:] + urls[:n], OPERATOR_TOKEN, reconnect=True)
            await console.start()
            self.consoles.append(console)
        for k, button in enumerate(phones):
            n = k % len(urls)
            self.phones.append(RelayingPhone(fleet, button, urls[n:] + urls[:n], self.folder))
        return urls

    def acknowledged(self) -> set[int]:
        return set().union(*(phone.acknowledged for phone in self.phones))

    async def until_acknowledged(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged()) < count:
            assert time.monotonic() < deadline, f"{len(self.acknowledged())} of {count} alarms"
            for phone in self.phones:
                phone.press_or_beat()
            await asyncio.sleep(FRAME_EVERY_S)  # the phones' pace: a frame each

    async def until_outboxes_empty(self, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while any(phone.outbox.count("pending") for phone in self.phones):
                await asyncio.sleep(0.2)  # polling the phones' files: no event to wait on

    async def until_every_console_shows_every_alarm(self, timeout: float = 15) -> None:
        wanted = self.acknowledged()
        async with asyncio.timeout(timeout):
            while any(not wanted <= shown_ids(c) for c in self.consoles):
                await asyncio.sleep(0.1)  # the consoles' lists: no event to wait on

    async def close(self) -> None:
        for phone in self.phones:
            await phone.close()
        for console in self.consoles:
            await console.stop()
        for node in self.nodes:
            await node.stop()


def shown_ids(console: ConsoleClient) -> set[int]:
    return {event["alarm_id"] for event in console.alarms}
