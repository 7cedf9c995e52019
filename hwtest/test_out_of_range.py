"""The phone out of range, then back: what the button was pressed for while alone
waits in its flash, and reaches the console when the phone returns, in order,
each alarm once (issue 5, store-and-forward). Presses while no phone was offered
the alarm are one alarm of as many presses (protocol/SPEC.md §3.1, issue 10)."""

from __future__ import annotations

import asyncio
import re

import pytest

from hwtest.bench import Dut
from hwtest.harness import Chain
from hwtest.rows import alarm_frames, wait_until
from msa.demo.stack import PRESS_GAP_S
from msa.waiting import within

pytestmark = pytest.mark.hil

AWAY_PRESSES = 3  # before a power cut while away; one more after it
RETURN_TIMEOUT_S = 30.0


def shown_counters(stack: Chain) -> list[int]:
    return [int(event["counter"]) for event in stack.console.alarms]


async def press_while_away(stack: Chain, dut: Dut) -> int:
    """Press once and return the counter the button gave the alarm."""
    stack.board.console.clear()
    await dut.press()
    queued = await stack.board.console.expect(rb"queued alarm (\d+)")
    await asyncio.sleep(PRESS_GAP_S)  # the finger lifts before it presses again
    return int(queued.group(1))


async def test_presses_out_of_range_are_kept_and_delivered_in_order_once(stack: Chain, dut: Dut):
    await dut.out_of_range()
    await within(stack.phone.link.disconnected.wait(), 5)  # the link timed out

    counters = [await press_while_away(stack, dut) for _ in range(AWAY_PRESSES)]
    # Each press replaced the waiting alarm by one of all its presses: one is kept,
    # in flash, not in memory: it outlives a power cut while still away.
    kept = [counters[-1]]
    await dut.power_cut()
    await dut.power_on()
    await stack.board.console.expect("queued heartbeat")  # booted: the button listens
    counters.append(await press_while_away(stack, dut))  # a new alarm after the cut
    kept.append(counters[-1])
    assert counters == sorted(set(counters)), f"a counter was reused: {counters}"
    assert not stack.phone.linked.is_set()
    assert (await stack.counts())["alarms"] == 0  # nothing got through while away

    await dut.in_range()  # no press from here on: the button sends by itself
    await wait_until(
        lambda: set(kept) <= set(shown_counters(stack)),
        RETURN_TIMEOUT_S,
        lambda: f"the alarms {kept} on the console (it has {shown_counters(stack)})",
    )
    await stack.settled()

    received = sorted(kept, key=lambda c: stack.frames[(stack.phone.device_id, c)].t["app_receive"])
    assert received == kept, "the phone got the queued alarms out of order"
    assert shown_counters(stack) == kept, "the console shows the alarms out of order, or twice"
    assert (await stack.counts())["alarms"] == len(kept)
    presses = {f.counter: f.fields()["presses"] for f in alarm_frames(stack)}
    assert presses == {kept[0]: AWAY_PRESSES, kept[1]: 1}
    assert stack.phone.outbox.rejections() == []  # no counter reused, no frame refused
    log = stack.board.console.log_path.read_text()
    assert sorted(int(n) for n in re.findall(r"queued alarm (\d+)", log)) == counters
