"""A scheduled job's lease between two live backend processes on one PostgreSQL:
it stays with the node holding it while that node renews it, and when that node
is SIGKILLed the other takes the job once the lease has lapsed, not before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from msa.backend.process import BackendProcess
from msa.backend.store import Store, open_store
from msa.waiting import within

pytestmark = [pytest.mark.postgres, pytest.mark.slow(seconds=15)]

LEASE_S = 3.0  # `--lease-s`: renewed every second
JOBS = {"supervisor", "daily reports"}


async def leases(store: Store) -> dict[str, tuple[str, int]]:
    async with store._reading() as conn:
        rows = await conn.fetch("SELECT job, holder, until_at FROM job_leases")
    return {row["job"]: (row["holder"], int(row["until_at"])) for row in rows}


async def until_leases(store: Store, done, what: str, timeout: float = 15.0):
    async def poll() -> dict[str, tuple[str, int]]:
        while not done(held := await leases(store)):
            await asyncio.sleep(0.05)  # polling the table, the leases' only witness
        return held

    try:
        return await within(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"{what}: leases {await leases(store)}") from None


def pid_of(holder: str) -> int:
    return int(holder.split(":")[-2])  # nodes.NODE: host:pid:random


async def test_a_lease_moves_to_the_live_node_only_once_the_dead_nodes_lapsed(
    tmp_path: Path, kek_file: Path, pg_cluster
):
    database_url = pg_cluster.create_database("leases")
    nodes = [
        BackendProcess(
            database_url, tmp_path / f"node-{n}.log", kek_file, options=("--lease-s", "3")
        )
        for n in range(2)
    ]
    store = await open_store(database_url)
    try:
        for node in nodes:  # one after the other: both migrate the same database
            await node.start()
        pids = {node.process.pid: node for node in nodes}
        held = await until_leases(store, lambda h: set(h) == JOBS, "both jobs taken")
        holder = held["supervisor"][0]
        assert pid_of(holder) in pids
        # Renewed (until_at moves on) by its holder, never taken by the other.
        first_until = held["supervisor"][1]
        held = await until_leases(
            store,
            lambda h: h["supervisor"][1] > first_until + 1000 or h["supervisor"][0] != holder,
            "the supervisor's lease renewed",
        )
        assert held["supervisor"][0] == holder

        dead = pids[pid_of(holder)]
        survivor = next(node for node in nodes if node is not dead)
        await dead.kill()
        lapses_at = (await leases(store))["supervisor"][1]
        moved = await until_leases(  # polled every 50 ms: seen before its first renewal
            store,
            lambda h: pid_of(h["supervisor"][0]) == survivor.process.pid,
            "the supervisor with the survivor",
            timeout=LEASE_S * 3,
        )
        taken_at = moved["supervisor"][1] - int(LEASE_S * 1000)
        assert taken_at > lapses_at, "taken while the dead node's lease still ran"
        assert taken_at - lapses_at < 3000, "not taken at the survivor's next tries (every 1 s)"
        await until_leases(
            store,
            lambda h: all(pid_of(h[job][0]) == survivor.process.pid for job in JOBS),
            "both jobs with the survivor",
            timeout=LEASE_S * 3,
        )
    finally:
        for node in nodes:
            await node.stop()
        await store.close()
