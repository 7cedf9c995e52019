"""The alarm announcer: an alarm read with its commit goes out without a second read."""

from __future__ import annotations

from msa.backend.alarms import AlarmAnnouncer, render
from msa.backend.auth import hash_token
from msa.backend.push import LocalHub
from msa.backend.store.sqlite import SqliteStore
from tests.backend.conftest import seed
from tests.backend.test_store import admit_frame, alarm_frame
from tests.backend.util import DEVICE_ID, PHONE_TOKEN


async def committed_alarm(store: SqliteStore, counter: int):
    _, commit = await store.commit_alarm(
        hash_token(PHONE_TOKEN), DEVICE_ID, admit_frame(lambda c: alarm_frame(counter, c), [])
    )
    assert commit.alarm is not None
    return commit


async def test_an_alarm_loaded_with_its_commit_is_published_before_any_read(tmp_path, kek):
    store = await SqliteStore.open(str(tmp_path / "msa.db"), kek=kek)
    try:
        await store.migrate()
        await seed(store)
        commit = await committed_alarm(store, 1)
        hub = LocalHub()
        subscription = hub.subscribe()
        reads = []
        real_alarms = store.alarms

        async def counted_alarms(ids):
            reads.append(list(ids))
            return await real_alarms(ids)

        store.alarms = counted_alarms  # type: ignore[method-assign]
        announcer = AlarmAnnouncer(store, hub)
        announcer.announce(commit.alarm_id, loaded=commit.alarm)
        # Published within the call, before the announcer's task ever ran.
        assert subscription._queue.get_nowait() == render(commit.alarm)
        assert announcer.shown_revision(commit.alarm_id) == commit.alarm.revision

        # Without what was loaded (a change from the console), the announcer reads it.
        announcer.announce(commit.alarm_id, "acknowledge")
        event = await subscription.get()
        assert reads == [[commit.alarm_id]] and event["change"] == "acknowledge"
        await announcer.aclose()
    finally:
        await store.close()
