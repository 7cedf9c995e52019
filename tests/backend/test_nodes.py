"""Several backend nodes on one database (msa/backend/nodes.py): a scheduled job's
lease is one node's at a time; two nodes never claim the same mail; an alarm one
node commits reaches the other's consoles, told or, when the notification is
lost, caught up; a console reconnecting with Last-Event-ID gets what it missed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from msa.backend.nodes import LEASE_S, Leases
from msa.backend.store import Store, open_store
from msa.backend.supervision import Supervisor
from msa.timefmt import now_ms
from msa.waiting import wait_until
from tests.backend.conftest import Backend, started_backend
from tests.backend.util import OPERATOR, PHONE, EventStream, ManualClock, body, signed

MINUTE_MS = 60_000
STREAM = "/api/v1/console/stream"


async def test_a_lease_is_one_nodes_until_it_lapses(store: Store):
    now = now_ms()
    assert await store.take_lease("supervisor", "node-a", now, MINUTE_MS)
    assert not await store.take_lease("supervisor", "node-b", now + 1000, MINUTE_MS)
    assert await store.take_lease("supervisor", "node-a", now + 20_000, MINUTE_MS)  # renewed
    assert not await store.take_lease("supervisor", "node-b", now + MINUTE_MS + 1, MINUTE_MS)
    assert await store.take_lease("daily reports", "node-b", now, MINUTE_MS)  # another job
    later = now + 20_000 + MINUTE_MS + 1  # node-a stopped renewing: lapsed
    assert await store.take_lease("supervisor", "node-b", later, MINUTE_MS)
    assert not await store.take_lease("supervisor", "node-a", later + 1, MINUTE_MS)


async def test_a_job_runs_on_one_node_and_moves_when_that_node_stops_renewing(store: Store):
    clock = ManualClock(now_ms())
    sweeps = {"a": 0, "b": 0}

    class Sweeper(Supervisor):
        def __init__(self, node: str) -> None:
            super().__init__(store, leases=Leases(store, node, clock))
            self.node = node

        async def round(self) -> float:
            sweeps[self.node] += 1
            return 30.0

    a, b = Sweeper("a"), Sweeper("b")
    assert await a._leased_round() == LEASE_S / 3  # holds it: sweeps, renews in 20 s
    assert await b._leased_round() == LEASE_S / 3  # does not: asks again in 20 s
    clock.now += 20_000
    await a._leased_round()
    await b._leased_round()
    assert sweeps == {"a": 2, "b": 0} and a.held and not b.held
    clock.now += int(LEASE_S * 1000) + 1  # a died: no renewal
    await b._leased_round()
    assert sweeps == {"a": 2, "b": 1} and b.held


async def queue_mails(store: Store, count: int, at: int) -> None:
    async with store._transaction() as conn:  # what the outbox's producers insert
        for n in range(count):
            await conn.execute(
                "INSERT INTO notifications (alarm_id, recipient, subject, body, created_at,"
                " next_attempt_at) VALUES (NULL, $1, $2, $3, $4, $4)",
                "parquet.gent@just.fgov.be",
                f"mail {n}",
                "body",
                at,
            )


async def test_two_nodes_claiming_at_once_never_share_a_mail(store: Store, database_url: str):
    now = now_ms()
    await queue_mails(store, 30, now)
    other = await open_store(database_url)  # the second node's connection(s)
    try:
        first, second = await asyncio.gather(
            store.claim_notifications(now, MINUTE_MS, 20),
            other.claim_notifications(now, MINUTE_MS, 20),
        )
        again = await other.claim_notifications(now + 1000, MINUTE_MS, 20)
        lapsed = await other.claim_notifications(now + MINUTE_MS + 1, MINUTE_MS, 40)
    finally:
        await other.close()
    ids = [n.id for n in first + second]
    assert len(ids) == len(set(ids)) == 30, "a mail claimed twice, or one left unclaimed"
    assert again == []  # claimed, not sent: nobody else takes them meanwhile
    assert len(lapsed) == 30  # their nodes died: any node sends them now


@pytest.fixture
async def two_apps(database_url: str, kek) -> AsyncIterator[tuple[Backend, Backend]]:
    async with started_backend(database_url, kek) as a:
        async with started_backend(database_url, kek, seeded=False) as b:
            yield a, b


async def press(node: Backend, counter: int) -> int:
    response = await node.client.post("/api/v1/frames", json=body(signed(counter)), headers=PHONE)
    assert response.status_code == 200, response.text
    return response.json()["alarm_id"]


async def next_alarm(subscription, timeout_s: float = 10.0) -> dict:
    async with asyncio.timeout(timeout_s):
        while True:
            event = await subscription.get()
            assert event is not None, "the subscription closed"
            if "alarm_id" in event:
                return event


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_an_alarm_committed_on_one_node_is_pushed_on_the_other(two_apps):
    a, b = two_apps
    with b.app.state.services.channel.subscribe() as on_b:
        alarm_id = await press(a, 1)
        event = await next_alarm(on_b)  # told over NOTIFY
    assert event["alarm_id"] == alarm_id and "change" not in event


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_an_alarm_whose_notification_was_lost_is_caught_up(two_apps, monkeypatch):
    a, b = two_apps
    told = []

    async def lost(channel: str, payloads: list[str]) -> None:
        told.append(payloads)  # never reaches PostgreSQL: as if node a died after its commit

    monkeypatch.setattr(a.store, "notify", lost)
    follower = b.app.state.services.follower
    with b.app.state.services.channel.subscribe() as on_b:
        alarm_id = await press(a, 1)
        assert await follower.catch_up() == 1  # the round every second does the same
        event = await next_alarm(on_b)
        assert await follower.catch_up() == 0  # once
    assert event["alarm_id"] == alarm_id
    await wait_until(lambda: bool(told), 10, "node a telling (into the void)")


async def test_one_node_has_no_follower_on_sqlite(backend: Backend, database_url: str):
    has = backend.app.state.services.follower is not None
    assert has == database_url.startswith("postgresql")


async def test_a_console_reconnecting_with_its_last_event_id_gets_the_alarms_since(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:

        async def alarm(counter: int) -> int:
            answer = await client.post("/api/v1/frames", json=body(signed(counter)), headers=PHONE)
            return answer.json()["alarm_id"]

        first, second, third = [await alarm(n) for n in (1, 2, 3)]
        for name, data in STEPS:
            step = await client.post(f"/api/v1/alarms/{second}/{name}", json=data, headers=OPERATOR)
            assert step.status_code == 200, step.text

        async with client.stream("GET", STREAM, headers=OPERATOR) as response:
            plain = await EventStream(response).until_ready()
        since = {**OPERATOR, "Last-Event-ID": str(first)}
        async with client.stream("GET", STREAM, headers=since) as response:
            caught_up = await EventStream(response).until_ready()
        for bad in ("x1", "-1", "1" * 19, "2.5"):
            refused = await client.get(STREAM, headers={**OPERATOR, "Last-Event-ID": bad})
            assert refused.status_code == 400 and refused.json()["error"] == "bad_last_event_id"

    assert [a["alarm_id"] for a in plain] == [first, third]  # the open ones
    assert [a["alarm_id"] for a in caught_up] == [first, second, third]
    assert caught_up[1]["status"] == "closed"


DISPATCH = {"patrol": "GE-21", "zone": "PZ Gent"}
STEPS = [
    ("acknowledge", {}),
    ("dispatch", DISPATCH),
    ("on-scene", {}),
    ("close", {"outcome": "false"}),
]
