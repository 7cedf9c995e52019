"""Crash and watchdog recovery (issue 5): the board resets into the same bonded
state and its outbox is delivered after the reboot, in order, none twice; the
first heartbeat after it tells the police it happened."""

from __future__ import annotations

import re

import pytest

from hwtest.bench import needs
from hwtest.harness import Chain
from hwtest.rows import alarm_frames, wait_frame, wait_until
from protocol import frame

pytestmark = [pytest.mark.hil, pytest.mark.slow]

PRESSES = 3


async def queue_alarms(stack: Chain, count: int) -> list[int]:
    """With the phone away, press `count` times: the alarm waits in the button's flash,
    one frame of `count` presses (protocol/SPEC.md §3.1); its counter, in a list."""
    await stack.phone_away()
    console = stack.board.console
    console.clear()
    await stack.board.presses(count, hold_ms=120, gap_ms=250)
    await console.expect(rb"(?:queued alarm \d+[\s\S]*?){%d}" % count)
    return [int(n) for n in re.findall(rb"queued alarm (\d+)", console.output)][-1:]


def shown(stack: Chain) -> list[int]:
    return [event["counter"] for event in stack.console.alarms]


async def delivered_once_in_order(stack: Chain, counters: list[int]) -> None:
    await stack.phone_back()
    await stack.settled()
    await wait_until(  # the console's pushes trail the commits
        lambda: len(stack.console.alarms) >= len(counters),
        10,
        lambda: f"the alarms {counters} on the console (it has {shown(stack)})",
    )
    assert shown(stack) == counters, f"stored {counters}, shown {shown(stack)}"
    assert (await stack.counts())["alarms"] == len(counters)
    assert [f.fields()["presses"] for f in alarm_frames(stack)] == [PRESSES]


async def test_a_crash_in_a_task_resets_the_board_and_the_queue_survives(stack: Chain):
    counters = await queue_alarms(stack, PRESSES)
    needs(stack.board, "cpu").hardware.inject_fault()  # the button task's next pin read raises
    await stack.board.press(120)
    await stack.board.console.expect(r"crash in button")
    await stack.board.console.expect(r"recovered after button: RuntimeError")
    assert needs(stack.board, "cpu").hardware.outputs.resets == 1

    await delivered_once_in_order(stack, counters)
    beat = await wait_frame(stack, frame.HEARTBEAT, lambda r: bool(r["flags"] & frame.RECOVERED))
    assert beat["counter"] > counters[-1]


@pytest.mark.provision(watchdog_ms=3000)
async def test_a_hung_cpu_is_reset_by_the_watchdog_and_the_queue_survives(stack: Chain):
    counters = await queue_alarms(stack, PRESSES)
    needs(stack.board, "cpu").freeze()  # the CPU stops where it is: nothing feeds the watchdog
    await stack.board.console.expect(r"recovered after watchdog reset", timeout=15)
    assert needs(stack.board, "cpu").hardware.outputs.watchdog_resets == 1

    await delivered_once_in_order(stack, counters)
    beat = await wait_frame(stack, frame.HEARTBEAT, lambda r: bool(r["flags"] & frame.RECOVERED))
    assert beat["counter"] > counters[-1]
