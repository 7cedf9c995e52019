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
from msa.backend.store import open_store
from msa.demo.stack import BackendProcess
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


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_sigkill_mid_flood_loses_no_acknowledged_frame(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
):
    if engine == "sqlite":
        database_url = f"sqlite:///{tmp_path}/msa.db"
    else:
        database_url = request.getfixturevalue("pg_cluster").create_database("crash")
    fleet = Fleet(PHONES)
    await seed(database_url, fleet)
    backend = BackendProcess(database_url, tmp_path / "backend.log")
    url = [await backend.start()]
    phones = [Phone(fleet, i) for i in range(PHONES)]
    acks, total = asyncio.Event(), [0]
    sending = asyncio.gather(*(p.run(url, acks, total) for p in phones))
    restarted = BackendProcess(database_url, tmp_path / "backend.log")
    try:
        await asyncio.wait_for(acks.wait(), 60)
        acked_before_kill = total[0]
        await backend.kill()
        assert acked_before_kill < PHONES * FRAMES_PER_PHONE, "the kill came after the flood"
        url[0] = await restarted.start()
        await asyncio.wait_for(sending, 120)
        assert sum(p.retries for p in phones) > 0, "no phone felt the crash"
        # Every acknowledged frame, sent once more, is a duplicate: it was committed.
        async with httpx.AsyncClient(base_url=url[0], timeout=10.0) as client:
            for phone in phones:
                for body in phone.acked:
                    response = await client.post("/api/v1/frames", json=body, headers=phone.headers)
                    assert response.json()["status"] == "duplicate", response.text
    finally:
        sending.cancel()
        await backend.stop()
        await restarted.stop()

    await assert_each_frame_stored_once(database_url, phones)


@pytest.mark.postgres
async def test_postgres_restart_under_load_loses_nothing(tmp_path: Path, pg_cluster):
    database_url = pg_cluster.create_database("restart")
    fleet = Fleet(PHONES)
    await seed(database_url, fleet)
    backend = BackendProcess(database_url, tmp_path / "backend.log")
    url = [await backend.start()]
    phones = [Phone(fleet, i) for i in range(PHONES)]
    acks, total = asyncio.Event(), [0]
    sending = asyncio.gather(*(p.run(url, acks, total) for p in phones))
    try:
        await asyncio.wait_for(acks.wait(), 60)
        await asyncio.to_thread(pg_cluster.stop, "immediate")  # as if the server crashed
        acked_while_down = total[0]
        await asyncio.to_thread(pg_cluster.start)
        await asyncio.wait_for(sending, 120)  # the same backend process, reconnected
        assert sum(p.retries for p in phones) > 0, "no phone felt the restart"
        assert acked_while_down < PHONES * FRAMES_PER_PHONE, "the restart came after the flood"
    finally:
        sending.cancel()
        await backend.stop()
    await assert_each_frame_stored_once(database_url, phones)


async def assert_each_frame_stored_once(database_url: str, phones: list[Phone]) -> None:
    store = await open_store(database_url)
    try:
        counts = await store.counts()
    finally:
        await store.close()
    sent_alarms = sum(p.kinds.count(frame.ALARM) for p in phones)
    assert counts["frames"] == PHONES * FRAMES_PER_PHONE  # every frame once: none lost, none twice
    assert counts["alarms"] == sent_alarms
