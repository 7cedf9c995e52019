"""Two backend nodes on one PostgreSQL (issue 15): a flood of heartbeats on both,
phones sending alarms and heartbeats through either (each knows both nodes), a
console on each. One node is SIGKILLed mid-flood: every alarm a phone saw
acknowledged reaches the consoles (the survivor's, and the dead node's console
once it has reconnected to the survivor), none is committed or shown twice, and
every phone's outbox empties. Then PostgreSQL is restarted under the same load,
with the same outcome."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench._fleet import Fleet, seed, start_flood
from bench._nodes import Nodes
from msa.backend.keys import kek_at
from msa.backend.store import open_store

pytestmark = [pytest.mark.slow(seconds=60), pytest.mark.postgres]

FLOOD_BUTTONS = 200  # buttons 1..199 send the heartbeat flood
FLOOD_PER_S = 150  # heartbeats a second, on each node
FLOOD_S = 40.0
PHONES = 6  # each relays a button of its own: its frames are tracked one by one
ALARMS_BEFORE_KILL = 12
ALARMS_BEFORE_RESTART = 12  # more, after the kill
ALARMS_AFTER_RESTART = 12


async def test_a_node_killed_mid_flood_then_postgres_restarted_loses_and_doubles_nothing(
    tmp_path: Path, kek_file: Path, pg_cluster
):
    database_url = pg_cluster.create_database("failover")
    fleet = Fleet(FLOOD_BUTTONS + PHONES)
    await seed(database_url, fleet, kek_at(kek_file))
    two = Nodes(database_url, tmp_path, kek_file)
    urls = await two.start(fleet, range(FLOOD_BUTTONS, FLOOD_BUTTONS + PHONES))
    # Each flood's counters start far above the other's and the phones' own.
    floods = [
        start_flood(url, Fleet(FLOOD_BUTTONS, (n + 1) * 1_000_000), FLOOD_PER_S, FLOOD_S)
        for n, url in enumerate(urls)
    ]
    try:
        for flood in floods:
            await asyncio.to_thread(flood.wait_started)
        await two.until_acknowledged(ALARMS_BEFORE_KILL)

        await two.nodes[0].kill()
        floods[0].process.kill()  # its phones' node is gone: they are the floods' concern
        killed_at = len(two.acknowledged())
        await two.until_acknowledged(killed_at + ALARMS_BEFORE_RESTART)
        await two.until_outboxes_empty()
        await two.until_every_console_shows_every_alarm()
        assert two.consoles[0].connections >= 2, "the dead node's console did not move"
        assert all(phone.forwarder.base_url == urls[1] for phone in two.phones)

        await asyncio.to_thread(pg_cluster.stop, "immediate")  # as if the server crashed
        await asyncio.to_thread(pg_cluster.start)
        restarted_at = len(two.acknowledged())
        await two.until_acknowledged(restarted_at + ALARMS_AFTER_RESTART)
        await two.until_outboxes_empty()
        await two.until_every_console_shows_every_alarm()
    finally:
        for flood in floods:
            flood.process.kill()
        await two.close()

    assert all(console.repeated == 0 for console in two.consoles), "an alarm pushed twice"
    store = await open_store(database_url)
    try:
        alarms = await store.counts()
    finally:
        await store.close()
    sent_alarms = sum((phone.sent + 2) // 3 for phone in two.phones)
    assert alarms["alarms"] == sent_alarms == len(two.acknowledged()), "an alarm lost or doubled"
