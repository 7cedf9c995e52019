"""A held or stuck button, and a chattering contact: one alarm at most, no storm,
reported to the police, and the button works again once released (issue 5)."""

from __future__ import annotations

import re
import time

import pytest

from boards.emulated.emulator import BUTTON_PIN
from hwtest.bench import needs
from hwtest.harness import Chain
from hwtest.rows import wait_frames, wait_until
from protocol import frame

pytestmark = [pytest.mark.hil, pytest.mark.slow]

SAMPLES_WITHIN_S = 15.0  # four samples of a stuck pin, with room for a loaded CI


def queued_alarms(stack: Chain) -> int:
    return len(re.findall(rb"queued alarm", stack.board.console.log_path.read_bytes()))


@pytest.mark.provision(stuck_ms=7000)
async def test_a_held_button_gives_one_alarm_is_reported_stuck_and_recovers(stack: Chain):
    seen = stack.console.next_alarm()
    stack.board.hold_button()
    await seen  # the press: one alarm at once
    await stack.board.console.expect("button stuck: ignored until released", timeout=15)
    stuck_at = time.monotonic()
    # Reported at once: a heartbeat with the stuck flag reaches the backend.
    beats = await wait_frames(stack, frame.HEARTBEAT, 2)
    assert beats[-1]["flags"] & frame.STUCK
    # While stuck, the pin is sampled now and then (no IRQs), and between the
    # samples its pull-up, which draws current through the closed contact, is off
    # (its share on the board's own clock: 250 ms off, a few statements on).
    pulls = needs(stack.board, "cpu").hardware.outputs.pulls

    def switched() -> int:
        return sum(1 for at, pin, _, _ in pulls if pin == BUTTON_PIN and at > stuck_at)

    await wait_until(
        lambda: switched() >= 8,
        SAMPLES_WITHIN_S,
        lambda: f"four samples of the stuck pin (its pull-up switched {switched()} times)",
    )
    share = needs(stack.board, "cpu").hardware.pull_up_share(BUTTON_PIN, stuck_at)
    assert share < 0.2, f"the pull-up was on {share:.0%} of the time"
    assert queued_alarms(stack) == 1  # a hold is one alarm, never a stream

    stack.board.release_button()
    await stack.board.console.expect("button released: listening again", timeout=5)
    again = await stack.press()
    assert again.kind == "alarm"
    assert queued_alarms(stack) == 2


async def test_a_chattering_contact_raises_nothing_and_recovers(stack: Chain):
    stack.board.console.clear()
    await needs(stack.board, "chatter").chatter(edges=300, period_ms=2)
    await stack.board.console.expect("button stuck: ignored until released")
    # On a busy host the chatter's edges spread out and the button may be released
    # and stuck again on the way: wait for the release after the last stuck.
    output = stack.board.console.output

    def released_for_good() -> bool:
        stuck = output.count(b"button stuck: ignored until released")
        return stuck == output.count(b"button released: listening again")

    await wait_until(released_for_good, 10, lambda: f"the last release in {bytes(output)!r}")
    assert queued_alarms(stack) == 0
    alarm = await stack.press()
    assert alarm.kind == "alarm" and queued_alarms(stack) == 1
