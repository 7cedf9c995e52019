"""Power cuts at random moments of a press: every alarm the button stored arrives
exactly once, and no counter is ever used twice."""

from __future__ import annotations

import asyncio
import os
import random
import re

import pytest

from hwtest.harness import Chain

pytestmark = [pytest.mark.hil, pytest.mark.slow]

TRIALS = int(os.environ.get("MSA_POWER_CUT_TRIALS", "50"))
SEED = int(os.environ.get("MSA_POWER_CUT_SEED", "20261123"))


async def test_random_power_cuts_lose_no_stored_alarm_and_reuse_no_counter(stack: Chain):
    rng = random.Random(SEED)
    for _ in range(TRIALS):
        await stack.board.console.expect("queued heartbeat")  # booted: the button listens
        pressing = asyncio.create_task(stack.board.press(150))
        # The moment of the cut is what the trial varies: before the debounce
        # ends, while the frame is written, while it is notified, before the ACK.
        await asyncio.sleep(rng.uniform(0.0, 0.12))
        await stack.board.power_cut()
        await pressing
        stack.board.console.clear()
        await stack.board.power_on()
    await stack.settled()

    log = stack.board.console.log_path.read_text()
    stored = {int(n) for n in re.findall(r"queued alarm (\d+)", log)}
    pushed = [e["counter"] for e in stack.console.alarms]
    print(f"{TRIALS} cuts: {len(stored)} alarms stored, {len(pushed)} shown")
    assert stored, "no trial stored an alarm: the cuts all came too early"
    assert stored <= set(pushed), f"stored but never shown: {stored - set(pushed)}"
    assert len(pushed) == len(set(pushed)), f"an alarm was shown twice: {pushed}"
    assert (await stack.counts())["alarms"] == len(pushed)
    # A reused counter would have been refused by the backend (409 counter_reused).
    assert stack.phone.outbox.rejections() == []
    assert len(re.findall(r"queued heartbeat", log)) == TRIALS + 1  # one a boot
