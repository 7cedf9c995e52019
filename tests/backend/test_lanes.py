"""Alarms first: an alarm waiting for the database goes before every heartbeat
that waits with it, routine traffic never takes the alarms' reserved places, and
routine frames step aside on the event loop while an alarm is on its way."""

from __future__ import annotations

import asyncio
import time

import pytest

from bench._fleet import Fleet, seed
from msa.backend import admission
from msa.backend.admission import STEP_ASIDE_S, RoutineGate
from msa.backend.auth import hash_token
from msa.backend.keys import Kek
from msa.backend.store import open_store
from msa.backend.store.base import NewAlarm, NewFrame
from msa.backend.store.group_commit import MAX_GROUP
from msa.backend.store.lanes import Lanes
from msa.waiting import wait_until, within
from protocol import frame
from tests.backend.util import DEVICE_ID, KEY, PHONE, PHONE_TOKEN, body, signed


async def _hold(lanes: Lanes) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A routine entry that stays inside until the event is set."""
    release = asyncio.Event()

    async def holder() -> None:
        async with lanes.enter():
            await release.wait()

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)  # one turn of the loop: the holder is inside
    assert lanes.busy == 1
    return held, release


async def _enter_and_note(lanes: Lanes, name: str, urgent: bool, order: list[str]) -> None:
    async with lanes.enter(urgent):
        order.append(name)


async def test_an_urgent_entry_goes_before_the_routine_ones_waiting():
    lanes, order = Lanes(1), []
    held, release = await _hold(lanes)
    routine = [
        asyncio.create_task(_enter_and_note(lanes, f"hb{n}", False, order)) for n in range(5)
    ]
    urgent = asyncio.create_task(_enter_and_note(lanes, "alarm", True, order))
    await asyncio.sleep(0)  # everyone queues
    assert lanes.busy == 1 and order == []
    release.set()
    await asyncio.gather(held, urgent, *routine)
    assert order == ["alarm", "hb0", "hb1", "hb2", "hb3", "hb4"]
    assert lanes.busy == 0


async def test_routine_traffic_leaves_the_reserved_places_to_alarms():
    lanes = Lanes(3, reserved=1)
    release = asyncio.Event()
    inside: list[str] = []

    async def stay(name: str, urgent: bool) -> None:
        async with lanes.enter(urgent):
            inside.append(name)
            await release.wait()

    tasks = [asyncio.create_task(stay(f"hb{n}", False)) for n in range(4)]
    await asyncio.sleep(0)
    assert sorted(inside) == ["hb0", "hb1"]  # the third place is the alarms'
    tasks.append(asyncio.create_task(stay("alarm", True)))
    await asyncio.sleep(0)
    assert "alarm" in inside
    release.set()
    await asyncio.gather(*tasks)
    assert sorted(inside) == ["alarm", "hb0", "hb1", "hb2", "hb3"] and lanes.busy == 0


async def test_a_routine_entry_that_waited_its_time_goes_with_the_urgent_ones():
    lanes, order = Lanes(1), []
    held, release = await _hold(lanes)

    async def audit() -> None:
        async with lanes.enter(promote_after_s=0):  # promoted on the loop's next turn
            order.append("audit")

    first = asyncio.create_task(_enter_and_note(lanes, "alarm1", True, order))
    beat = asyncio.create_task(_enter_and_note(lanes, "heartbeat", False, order))
    promoted = asyncio.create_task(audit())
    await asyncio.sleep(0)  # everyone queues
    await asyncio.sleep(0)  # the promotion's timer runs
    later = asyncio.create_task(_enter_and_note(lanes, "alarm2", True, order))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(held, first, beat, promoted, later)
    # Behind the alarm that queued before it was promoted, ahead of the later one;
    # an ordinary routine entry still waits for every alarm.
    assert order == ["alarm1", "audit", "alarm2", "heartbeat"]
    assert lanes.busy == 0


async def test_a_cancelled_waiter_gives_its_place_back():
    lanes, order = Lanes(1), []
    held, release = await _hold(lanes)
    cancelled = asyncio.create_task(_enter_and_note(lanes, "cancelled", True, order))
    after = asyncio.create_task(_enter_and_note(lanes, "after", False, order))
    await asyncio.sleep(0)
    release.set()
    cancelled.cancel()  # it may have been let in already: its place must come back
    await asyncio.gather(held, after, return_exceptions=False)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert order == ["after"] and lanes.busy == 0


def _frame(
    fleet: Fleet, i: int, phone_id: int, kind: int, person_case: tuple[int, int]
) -> NewFrame:
    raw = fleet.next_frame(i, kind)
    parsed = frame.parse(raw)
    alarm = None
    if kind == frame.ALARM:
        alarm = NewAlarm("alarm", person_case[0], person_case[1], None)
    return NewFrame(
        device_id=parsed.device_id,
        counter=parsed.counter,
        type=kind,
        raw=raw,
        time_s=parsed.fields()["time_s"],
        battery_mv=2950,
        uptime_s=None,
        phone_id=phone_id,
        received_at=int(time.time() * 1000),
        location=None,
        alarm=alarm,
    )


BEATS = 200


async def test_an_alarm_commits_before_the_heartbeats_queued_ahead_of_it(
    database_url: str, kek: Kek
):
    fleet = Fleet(4)
    await seed(database_url, fleet, kek)
    store = await open_store(database_url, kek)
    try:
        contexts = [
            await store.ingest_context(hash_token(fleet.token(i)), fleet.device_id(i))
            for i in range(fleet.size)
        ]
        person_case = (contexts[0].person_id, contexts[0].case_id)
        beats = [
            _frame(fleet, 1 + n % 3, contexts[1 + n % 3].phone_id, frame.HEARTBEAT, person_case)
            for n in range(BEATS)
        ]
        alarm = _frame(fleet, 0, contexts[0].phone_id, frame.ALARM, person_case)
        # The heartbeats ask for the database first, then the alarm, as ingest does.
        alarm_commit = store.commit_alarm(
            hash_token(fleet.token(0)), fleet.device_id(0), lambda context: (context, alarm)
        )
        *commits, (_, last) = await asyncio.gather(
            *(store.commit_frame(b) for b in beats), alarm_commit
        )
        commits.append(last)
    finally:
        await store.close()
    ids = sorted(c.frame_id for c in commits)
    alarm_rank = ids.index(commits[-1].frame_id)
    # Heartbeats are committed in groups of MAX_GROUP, one group at a time. SQLite
    # has one place: the alarm is let in before the first group (one heartbeat may
    # be inside). PostgreSQL runs the group under way beside the alarm, and which
    # insert lands first is the machine's timing: a group is one statement, the
    # alarm a transaction of four round trips, so on a busy machine the group under
    # way and the next may be ahead; never the ones that wait behind them. In a
    # first-come queue the alarm would be last, behind all BEATS.
    assert len(beats) > 4 * MAX_GROUP
    bound = 1 if database_url.startswith("sqlite") else 2 * MAX_GROUP
    assert alarm_rank <= bound, f"the alarm committed after {alarm_rank} heartbeats queued with it"


async def test_a_scheduled_job_s_long_read_holds_up_no_other_read(tmp_path, kek: Kek):
    # SQLite's reads take turns on their connection: the sweep's and the zone
    # reports' reads (seconds, for a national fleet) have one of their own.
    store = await open_store(f"sqlite:///{tmp_path / 'reads.db'}", kek)
    try:
        await store.migrate()
        async with store._background_reading():  # noqa: SLF001 (a sweep's read, under way)
            async with asyncio.timeout(10):
                assert (await store.counts())["alarms"] == 0
    finally:
        await store.close()


async def test_a_busy_backend_turns_heartbeats_away_and_still_takes_alarms(backend):
    gate = backend.app.state.routine
    gate.in_flight = gate.limit  # as if `limit` heartbeats were being worked on
    before = await backend.store.counts()
    heartbeat = body(signed(1, frame.HEARTBEAT))
    refused = await backend.client.post("/api/v1/frames", json=heartbeat, headers=PHONE)
    assert refused.status_code == 503
    assert refused.json()["error"] == "busy"
    assert refused.headers["Retry-After"] == "5"
    assert await backend.store.counts() == before  # nothing stored: the phone sends it again

    alarm = await backend.client.post("/api/v1/frames", json=body(signed(2)), headers=PHONE)
    assert alarm.status_code == 200 and alarm.json()["status"] == "committed"

    gate.in_flight = 0
    again = await backend.client.post("/api/v1/frames", json=heartbeat, headers=PHONE)
    assert again.status_code == 200 and again.json()["status"] == "committed"
    assert gate.in_flight == 0 and gate.turned_away == 1


async def test_routine_work_steps_aside_until_the_alarm_on_its_way_is_through(monkeypatch):
    monkeypatch.setattr(admission, "STEP_ASIDE_S", 30.0)  # the alarms end it, not its bound
    gate = RoutineGate()
    await within(gate.step_aside(), 1.0)  # no alarm: at once
    with gate.alarm(), gate.alarm():  # two alarms on their way
        waiting = asyncio.create_task(gate.step_aside())
        with gate.alarm():
            pass  # one of three through: still waiting
        await asyncio.sleep(0)
        assert not waiting.done()
    await within(waiting, 1.0)


async def test_routine_work_steps_aside_for_no_longer_than_its_bound():
    gate = RoutineGate()
    loop = asyncio.get_running_loop()
    with gate.alarm():  # an alarm that never goes through must not starve heartbeats
        started = loop.time()
        await within(gate.step_aside(), 10 * STEP_ASIDE_S)
        assert loop.time() - started >= STEP_ASIDE_S * 0.9


async def test_a_heartbeat_waits_while_an_alarm_is_on_its_way(backend, monkeypatch):
    monkeypatch.setattr(admission, "STEP_ASIDE_S", 30.0)
    gate = backend.app.state.routine
    heartbeat = body(signed(1, frame.HEARTBEAT))
    with gate.alarm():
        sent = asyncio.create_task(
            backend.client.post("/api/v1/frames", json=heartbeat, headers=PHONE)
        )
        await wait_until(lambda: gate.aside == 1, 5.0, "the heartbeat stepping aside")
        assert (await backend.store.counts())["frames"] == 0 and not sent.done()
    answer = await within(sent, 5.0)
    assert answer.status_code == 200 and answer.json()["status"] == "committed"
    assert (gate.in_flight, gate.aside) == (0, 0)

    # Committed, its answer waits too: the alarm's push goes first.
    committed = asyncio.Event()
    store_commit = backend.store.commit_frame

    async def commit_then_an_alarm(new_frame):
        commit = await store_commit(new_frame)
        alarm.__enter__()  # an alarm arrives while the heartbeat is committed
        committed.set()
        return commit

    alarm = gate.alarm()
    monkeypatch.setattr(backend.store, "commit_frame", commit_then_an_alarm)
    second = asyncio.create_task(
        backend.client.post("/api/v1/frames", json=body(signed(2, frame.HEARTBEAT)), headers=PHONE)
    )
    await within(committed.wait(), 5.0)
    await wait_until(lambda: gate.aside == 1, 5.0, "the answer stepping aside")
    assert not second.done()
    alarm.__exit__(None, None, None)
    assert (await within(second, 5.0)).status_code == 200


async def test_an_alarm_that_fails_its_checks_takes_no_writer_and_no_turn(backend, monkeypatch):
    gate = backend.app.state.routine
    steps = []
    store_commit_alarm = backend.store.commit_alarm

    async def commit_alarm(*args):
        steps.append(gate.alarms)
        return await store_commit_alarm(*args)

    monkeypatch.setattr(backend.store, "commit_alarm", commit_alarm)
    bad_token = {"Authorization": "Bearer not-a-phone"}
    refused = await backend.client.post("/api/v1/frames", json=body(signed(1)), headers=bad_token)
    assert refused.status_code == 401
    forged = body(signed(2, key=bytes(32)))
    bad_mac = await backend.client.post("/api/v1/frames", json=forged, headers=PHONE)
    assert bad_mac.status_code == 422
    assert steps == [] and gate.alarms == 0
    good = await backend.client.post("/api/v1/frames", json=body(signed(3)), headers=PHONE)
    assert good.json()["status"] == "committed" and steps == [1] and gate.alarms == 0


async def test_a_cached_context_never_refuses_a_good_frame(backend):
    """Heartbeats skip the token lookup for a few seconds (msa.backend.contexts);
    a button re-provisioned with a new key (epoch) in that time is heard at once."""
    first = await backend.client.post(
        "/api/v1/frames", json=body(signed(1, frame.HEARTBEAT)), headers=PHONE
    )
    assert first.json()["status"] == "committed"
    cached = backend.app.state.contexts.get((hash_token(PHONE_TOKEN), DEVICE_ID))
    assert cached is not None and cached.device.mac_key == KEY
    new_key = bytes(range(32, 64))
    person_id = backend.seeded["person_id"]
    assert await backend.store.register_device(0x00C0FFEE, new_key, person_id) == 1
    await backend.store.link_phone(hash_token("new-token"), person_id, 0x00C0FFEE)
    new_phone = {"Authorization": "Bearer new-token"}
    beat = body(signed(1 << 24 | 2, frame.HEARTBEAT, key=new_key))
    second = await backend.client.post("/api/v1/frames", json=beat, headers=new_phone)
    assert second.status_code == 200 and second.json()["status"] == "committed"
    # The cached old token does not reach the new epoch, nor the old key sign in it.
    third = await backend.client.post("/api/v1/frames", json=beat, headers=PHONE)
    assert third.status_code == 403 and third.json()["error"] == "wrong_epoch"
    forged = body(signed(1 << 24 | 3, frame.HEARTBEAT))
    fourth = await backend.client.post("/api/v1/frames", json=forged, headers=new_phone)
    assert fourth.status_code == 422
