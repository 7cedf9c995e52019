"""PostgreSQL fails over to its standby (issue 15): two backend nodes on a URL that
lists the primary and a synchronous streaming standby (`target_session_attrs=
read-write`), phones sending alarms through either node, a console on each. The
primary crashes and the standby is promoted: the nodes' stores reconnect to it on
their own, every alarm a phone saw acknowledged is in the promoted database and on
both consoles, none twice, and every phone's outbox empties."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from bench._fleet import Fleet, seed
from bench._nodes import Nodes
from msa.backend import pgcluster
from msa.backend.keys import kek_at
from msa.backend.store import open_store

pytestmark = [pytest.mark.slow(seconds=30), pytest.mark.postgres]

PHONES = 4
ALARMS_BEFORE = 8
ALARMS_AFTER = 8  # more, once the standby took over


async def test_the_nodes_move_to_the_promoted_standby_and_lose_no_acknowledged_alarm(
    tmp_path: Path, kek_file: Path, pg_cluster_of_its_own: pgcluster.PgCluster
):
    primary = pg_cluster_of_its_own  # crashed, and made synchronous: no other test's
    primary_url = primary.create_database("alarms")
    fleet = Fleet(PHONES)
    await seed(primary_url, fleet, kek_at(kek_file))
    with pgcluster.standby(primary) as standby:
        await synchronous(primary.url)  # an acknowledged commit is on the standby too
        both = f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
        url = f"postgresql://{pgcluster.USER}@{both}/alarms?target_session_attrs=read-write"
        two = Nodes(url, tmp_path, kek_file)
        try:
            await two.start(fleet, range(PHONES))
            await two.until_acknowledged(ALARMS_BEFORE)

            await asyncio.to_thread(primary.stop, "immediate")  # as if its machine died
            await asyncio.to_thread(standby.promote)
            await two.until_acknowledged(len(two.acknowledged()) + ALARMS_AFTER)
            await two.until_outboxes_empty()
            await two.until_every_console_shows_every_alarm()
        finally:
            await two.close()

        assert all(console.repeated == 0 for console in two.consoles), "an alarm pushed twice"
        store = await open_store(standby.database_url("alarms"))
        try:
            alarms = await store.counts()
        finally:
            await store.close()
        sent_alarms = sum((phone.sent + 2) // 3 for phone in two.phones)
        assert alarms["alarms"] == sent_alarms == len(two.acknowledged())


async def synchronous(primary_url: str) -> None:
    """Make the primary wait for its standby's flush before a commit returns."""
    conn = await asyncpg.connect(primary_url)
    try:
        await conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        await conn.execute("SELECT pg_reload_conf()")
        async with asyncio.timeout(30):
            while await conn.fetchval("SELECT sync_state FROM pg_stat_replication") != "sync":
                await asyncio.sleep(0.1)  # the server's view: no event to wait on
    finally:
        await conn.close()
