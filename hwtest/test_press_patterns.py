"""Press patterns chosen at provisioning, accidental presses, and the tech desk's
test gesture (issue 5). Each case ends with a deliberate press whose alarm is
the synchronisation point: the firmware handles edges in order, so anything an
earlier accidental press raised would be on the console before it."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from hwtest.bench import needs
from hwtest.harness import Chain

pytestmark = pytest.mark.hil


def queued(stack: Chain) -> list[int]:
    """The counters of the alarms the button queued since its console was cleared."""
    return [int(n) for n in re.findall(rb"queued alarm (\d+)", stack.board.console.output)]


def kinds(stack: Chain) -> list[str]:
    return [event["kind"] for event in stack.console.alarms]


@pytest.mark.provision(press_ms=150)  # wide enough apart from debounce_ms for a loaded CI
async def test_single_press_and_bumps_shorter_than_a_press(stack: Chain):
    await stack.board.console.expect("alarm on a single press of 150 ms")
    stack.board.console.clear()
    await stack.board.presses(3, hold_ms=10, gap_ms=200)  # contact bounce: under debounce_ms
    await asyncio.sleep(0.2)  # the gaps belong to the gesture: released, then pressed
    await stack.board.presses(3, hold_ms=70, gap_ms=200)  # bumps: over debounce, under press_ms
    await asyncio.sleep(0.2)
    alarm = await stack.press(300)
    assert queued(stack) == [alarm.counter]
    assert kinds(stack) == ["alarm"]


@pytest.mark.provision(pattern="long", hold_ms=1500)
async def test_long_press_pattern(stack: Chain):
    await stack.board.console.expect("alarm on a long press of 1500 ms")
    stack.board.console.clear()
    await stack.board.press(150)  # a plain press is not this button's alarm
    await asyncio.sleep(0.2)
    await stack.board.press(900)  # nor a hold short of 1.5 s
    alarm = await stack.gesture(stack.board.long_press(2000))
    assert queued(stack) == [alarm.counter]
    assert kinds(stack) == ["alarm"]


@pytest.mark.slow
@pytest.mark.provision(pattern="multi", presses=3, window_ms=1500)
async def test_multi_press_pattern_and_presses_that_do_not_add_up(stack: Chain):
    await stack.board.console.expect("alarm on a 3 presses within 1500 ms")
    stack.board.console.clear()
    await stack.board.presses(2, hold_ms=100, gap_ms=200)  # not completed: nothing
    # Bumps in a pocket, 1 s apart: never three within 1.5 s, however many.
    await asyncio.sleep(1.6)  # the gesture's own pause, not a wait for the board
    await stack.board.presses(4, hold_ms=100, gap_ms=900)
    await asyncio.sleep(1.6)
    alarm = await stack.gesture(stack.board.presses(3, hold_ms=100, gap_ms=250))
    assert queued(stack) == [alarm.counter]
    assert kinds(stack) == ["alarm"]


@pytest.mark.provision(pattern="long", hold_ms=20)  # a typo at the tech desk
async def test_a_bad_setting_falls_back_to_a_single_press_and_says_so(stack: Chain):
    await stack.board.console.expect(r"hold_ms must be a whole number from 500 to 10000")
    await stack.board.console.expect("alarm on a single press")
    alarm = await stack.press(120)
    assert alarm.kind == "alarm"


@pytest.mark.slow
async def test_test_alarm_needs_the_gesture_and_an_unexpired_arming(stack: Chain):
    await stack.arm_test_alarm()
    # Armed, but a press in panic: a real alarm, and the arming stays.
    real = await stack.gesture(stack.board.presses(3, hold_ms=120, gap_ms=200))
    assert real.kind == "alarm"
    assert (needs(stack.board, "flash").flash / "data" / "test_armed").exists()
    await stack.settled()
    # The gesture while armed: one test alarm, and the arming is used up.
    test = await stack.gesture(stack.board.test_gesture())
    assert test.kind == "test_alarm"
    assert not (needs(stack.board, "flash").flash / "data" / "test_armed").exists()
    # The same gesture on an expired arming: real alarms only.
    await stack.arm_test_alarm(until=time.time() - 1)
    stack.board.console.clear()
    late = await stack.gesture(stack.board.test_gesture())
    assert late.kind == "alarm"
    await stack.board.console.expect("arming expired or invalid: removed")
    await stack.board.console.expect(r"(?:queued alarm \d+[\s\S]*?){3}")
    sent = re.findall(rb"queued (\w+) \d+", stack.board.console.log_path.read_bytes())
    alarms = [k.decode() for k in sent if k != b"heartbeat"]
    assert alarms == ["alarm"] * 3 + ["test_alarm"] + ["alarm"] * 3


@pytest.mark.slow
async def test_an_arming_on_a_button_whose_clock_is_not_set_is_no_arming(stack: Chain):
    # After a power cut and before the phone is back, the button cannot tell
    # whether the arming has expired: the test gesture is a real alarm.
    await stack.phone_away()
    await stack.board.power_cut()
    await stack.board.power_on()
    await stack.board.console.expect("queued heartbeat")
    assert stack.board is not None
    await stack.board.arm_test_alarm()  # the phone is away: no waiting for it
    stack.board.console.clear()
    await stack.board.test_gesture()
    await stack.board.console.expect("the phone has not set the clock: not armed")
    await stack.board.console.expect(r"queued alarm \d+")
    assert b"queued test_alarm" not in stack.board.console.output
    armed = needs(stack.board, "flash").flash / "data" / "test_armed"
    assert armed.exists()  # still there for later
