"""One press, end to end: the button's alarm reaches the CIC console, once, whatever
happens on the way (issue 4)."""

from __future__ import annotations

import os
import signal

import pytest

from hwtest.bench import needs
from hwtest.harness import Chain
from protocol import frame

pytestmark = pytest.mark.hil


async def test_a_press_reaches_the_console_as_a_stalking_alarm(stack: Chain):
    alarm = await stack.press()

    event = stack.console.alarms[-1]
    assert (event["device_id"], event["counter"]) == (f"{alarm.device_id:08x}", alarm.counter)
    assert event["kind"] == "alarm"
    assert event["person"]["name"]
    assert event["case"]["suspect"]["weapons"]["possession"] is True
    assert {a["kind"] for a in event["person"]["addresses"]} >= {"home", "work"}
    assert event["location"]["lat"] == pytest.approx(51.0543)
    # Every hop timed (a real board's notify is seen only as the phone's receipt).
    assert set(alarm.report()["hops_ms"]) == set(stack.hops)
    assert set(stack.hops) >= {"press", "app_receive", "backend_commit", "console_push"}
    assert (await stack.counts())["alarms"] == 1


@pytest.mark.slow  # the test gesture takes 7 s
async def test_a_test_alarm_is_shown_as_a_test(stack: Chain):
    await stack.arm_test_alarm()
    test = await stack.gesture(stack.board.test_gesture())
    real = await stack.press()
    assert (test.kind, real.kind) == ("test_alarm", "alarm")
    assert [e["kind"] for e in stack.console.alarms[-2:]] == ["test_alarm", "alarm"]


async def test_a_power_cut_before_the_phone_hears_the_alarm_loses_nothing(stack: Chain):
    await stack.phone_away()
    stack.board.console.clear()
    await stack.board.press()
    counter = int((await stack.board.console.expect(rb"queued alarm (\d+)")).group(1))

    await stack.board.power_cut()  # the frame waits in flash, unsent
    await stack.board.power_on()
    seen = stack.console.next_alarm()
    await stack.phone_back()

    event = await seen
    assert event["counter"] == counter
    await stack.settled()
    assert _console_counters(stack).count(counter) == 1
    assert (await stack.counts())["alarms"] == 1


async def test_a_power_cut_between_the_phone_storing_and_the_ack_gives_one_alarm(stack: Chain):
    # The phone has the frame on disk, but the button dies before the ACK
    # arrives: after power returns it sends the frame again. Still one alarm.
    pid = needs(stack.board, "cpu").process.pid
    received = stack.phone.on_received

    def cut_power_now(got: frame.Frame, at: float) -> None:
        received(got, at)
        if got.type == frame.ALARM:
            os.kill(pid, signal.SIGKILL)  # before the phone writes its ACK

    stack.phone.on_received = cut_power_now
    seen = stack.console.next_alarm()
    await stack.board.press()
    event = await seen
    await stack.board.power_cut()
    stack.phone.on_received = received
    await stack.board.power_on()
    await stack.settled()

    assert _console_counters(stack).count(event["counter"]) == 1
    assert (await stack.counts())["alarms"] == 1


async def test_a_replayed_frame_is_refused_and_nothing_is_stored(stack: Chain):
    alarm_frame = (await stack.press()).data
    before = await stack.counts()

    response = await stack.post_frame(alarm_frame)

    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert await stack.counts() == before
    # The console got no second push: the next event is the next real press.
    following = await stack.press()
    assert [e["counter"] for e in stack.console.alarms] == [
        frame.parse(alarm_frame).counter,
        following.counter,
    ]


async def test_a_frame_with_a_wrong_mac_is_refused_and_nothing_is_stored(stack: Chain):
    device_id = int(stack.credentials["device_id"], 16)
    payload = frame.alarm_payload(0, 3000)
    forged = frame.sign(bytes(32), frame.ALARM, device_id, 999_999, payload)
    tampered = bytearray(
        frame.sign(
            bytes.fromhex(stack.credentials["key"]), frame.ALARM, device_id, 999_998, payload
        )
    )
    tampered[-1] ^= 0x01
    await stack.settled()  # the boot heartbeat is stored before we count
    before = await stack.counts()

    for data in (forged, bytes(tampered)):
        response = await stack.post_frame(data)
        assert response.status_code == 422
        assert response.json()["error"] == "bad_mac"
    assert await stack.counts() == before
    assert stack.console.alarms == []


def _console_counters(stack: Chain) -> list[int]:
    return [e["counter"] for e in stack.console.alarms]


@pytest.mark.postgres
async def test_a_press_reaches_the_console_with_the_backend_on_postgresql(pg_cluster, tmp_path):
    chain = Chain.fresh(tmp_path / "stack", pg_cluster.create_database("hil_press"))
    try:
        await chain.start()
        alarm = await chain.press()
        assert chain.console.alarms[-1]["counter"] == alarm.counter
        assert (await chain.counts())["alarms"] == 1
    finally:
        await chain.stop()


async def test_a_press_crosses_the_timed_air_at_the_provisioned_parameters(target, tmp_path):
    if target.kind != "emulated":
        pytest.skip("the timed air is the emulated board's")
    chain = Chain.fresh(tmp_path / "stack", air="timed")
    try:
        await chain.start()
        alarm = await chain.press()
        assert chain.console.alarms[-1]["counter"] == alarm.counter
        hops = alarm.report()["hops_ms"]
        assert hops["app_receive"] >= hops["ble_notify"]
        # The app asked for the board's parameters; the board's radio runs them,
        # and counts the connection events it attended (no longer derived).
        radio = needs(chain.board, "air").radio_events()
        assert (radio["connection_interval_ms"], radio["peripheral_latency"]) == (125, 2)
        assert radio["events"] == "counted"
        assert radio["connection_events"] >= 1
    finally:
        await chain.stop()


async def test_a_phone_with_the_smallest_mtu_reads_each_frame_instead(
    target, tmp_path, monkeypatch
):
    """An ATT MTU of 23 cannot carry a frame in a notification: the phone polls the
    Frame characteristic, whose value the button sets as each read is answered, while
    the phone writes its receipts into the same value (firmware/radio.py, publish)."""
    if target.kind != "emulated":
        pytest.skip("the phone's MTU is set on the emulated air's Bumble phone")
    from msa.app import bumble_link

    monkeypatch.setattr(bumble_link, "PREFERRED_MTU", 23)
    chain = Chain.fresh(tmp_path / "stack")
    try:
        await chain.start()
        assert chain.phone.link.mtu < frame.MIN_ATT_MTU
        alarms = [await chain.press() for _ in range(3)]
        assert [a["counter"] for a in chain.console.alarms] == [a.counter for a in alarms]
        await chain.settled()  # every frame receipted: the button forgot them all
        assert chain.board.frames_held(set()) == 0
    finally:
        await chain.stop()
