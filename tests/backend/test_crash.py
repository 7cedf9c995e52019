"""Crashes in the middle of a flood of alarms and heartbeats: the backend killed
hard (SIGKILL) and restarted, or PostgreSQL restarted under the running backend.
Every frame a phone saw acknowledged is in the database, none twice, and the
phones' retries deliver the rest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bench._fleet import Fleet, seed
from msa.backend.keys import kek_at
from msa.backend.process import BackendProcess
from msa.backend.store import open_store
from msa.waiting import within
from protocol import frame

pytestmark = pytest.mark.slow

PHONES = 8
FRAMES_PER_PHONE = 40
KILL_AFTER_ACKS = 60  # the kill falls well inside the flood
RETRY_S = 0.05  # the phones' back-off (the app's own grows; a test keeps it short)


class Phone:
    """Sends its button's frames in order, each until acknowledged, as the app does."""

    def __init__(self, fleet: Fleet, button: int) -> None:
        kinds = [frame.ALARM if n % 4 == 0 else frame.HEARTBEAT for n in range(FRAMES_PER_PHONE)]
        self.bodies = [fleet.body(button, kind) for kind in kinds]
        self.kinds = kinds
        self.headers = fleet.headers(button)
        self.acked: list[dict] = []  # the bodies the backend acknowledged
        self.retries = 0  # requests that failed and were sent again

    async def run(self, url: list[str], acks: asyncio.Event, total: list[int]) -> None:
        async with httpx.AsyncClient(timeout=5.0) as client:
            for body in self.bodies:
                while True:
                    try:
                        response = await client.post(
                            url[0] + "/api/v1/frames", json=body, headers=self.headers
                        )
                    except httpx.TransportError:  # the backend is down
                        response = None
                    if response is not None and response.status_code == 200:
                        break
                    if response is not None:  # 503: its database is down; nothing else is fine
                        assert response.status_code == 503, response.text
                    self.retries += 1
                    await asyncio.sleep(RETRY_S)
                self.acked.append(body)
                total[0] += 1
                if total[0] >= KILL_AFTER_ACKS:
                    acks.set()


class PhonesSending:
    """The fleet's phones sending to `msa backend serve`, and the backend's url
    they send to (a restarted backend has a new one)."""

    def __init__(self, database_url: str, tmp_path: Path, kek_file: Path) -> None:
        self.database_url = database_url
        self.log = tmp_path / "backend.log"
        self.kek_file = kek_file
        self.backend = BackendProcess(database_url, self.log, kek_file)
        self.url: list[str] = []
        self.phones: list[Phone] = []
        self.acks, self.total = asyncio.Event(), [0]
        self.sending: asyncio.Future[list[None]] | None = None

    async def __aenter__(self) -> PhonesSending:
        fleet = Fleet(PHONES)
        await seed(self.database_url, fleet, kek_at(self.kek_file))
        self.url.append(await self.backend.start())
        self.phones = [Phone(fleet, i) for i in range(PHONES)]
        self.sending = asyncio.gather(
            *(p.run(self.url, self.acks, self.total) for p in self.phones)
        )
        await within(self.acks.wait(), 60)  # well inside the flood
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.sending is not None
        self.sending.cancel()
        await self.backend.stop()

    async def finish(self) -> None:
        """Wait for every phone to have every frame acknowledged, through the crash."""
        assert self.sending is not None
        crashed_at = self.total[0]
        await within(self.sending, 90)  # inside the test's own bound
        assert crashed_at < PHONES * FRAMES_PER_PHONE, "the crash came after the flood"
        assert sum(p.retries for p in self.phones) > 0, "no phone felt the crash"


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_sigkill_mid_flood_loses_no_acknowledged_frame(
    engine: str, tmp_path: Path, kek_file: Path, request: pytest.FixtureRequest
):
    if engine == "sqlite":
        database_url = f"sqlite:///{tmp_path}/msa.db"
    else:
        database_url = request.getfixturevalue("pg_cluster").create_database("crash")
    async with PhonesSending(database_url, tmp_path, kek_file) as flood:
        await flood.backend.kill()
        flood.backend = BackendProcess(database_url, flood.log, kek_file)
        flood.url[0] = await flood.backend.start()
        await flood.finish()
        # Every acknowledged frame, sent once more, is a duplicate: it was committed.
        async with httpx.AsyncClient(base_url=flood.url[0], timeout=10.0) as client:
            for phone in flood.phones:
                for body in phone.acked:
                    response = await client.post("/api/v1/frames", json=body, headers=phone.headers)
                    assert response.json()["status"] == "duplicate", response.text
    await assert_each_frame_stored_once(database_url, flood.phones)


@pytest.mark.postgres
async def test_postgres_restart_under_load_loses_nothing(
    tmp_path: Path, kek_file: Path, pg_cluster
):
    database_url = pg_cluster.create_database("restart")
    async with PhonesSending(database_url, tmp_path, kek_file) as flood:
        await asyncio.to_thread(pg_cluster.stop, "immediate")  # as if the server crashed
        await asyncio.to_thread(pg_cluster.start)
        await flood.finish()  # the same backend process, reconnected
    await assert_each_frame_stored_once(database_url, flood.phones)


async def assert_each_frame_stored_once(database_url: str, phones: list[Phone]) -> None:
    store = await open_store(database_url)
    try:
        counts = await store.counts()
    finally:
        await store.close()
    sent_alarms = sum(p.kinds.count(frame.ALARM) for p in phones)
    assert counts["frames"] == PHONES * FRAMES_PER_PHONE  # every frame once: none lost, none twice
    assert counts["alarms"] == sent_alarms
