"""Waits and teardowns that cannot hang (msa.waiting, msa.cleanup).

The first case is the CI hang of 2026-11-25: a phone task cancelled at the instant
its forwarder's wake-up fired carried on for ever under Python 3.11's wait_for."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from msa import cleanup
from msa.waiting import all_cancelled, cancelled, within


async def _wake_loop(wake: asyncio.Event, rounds: list[int]) -> None:
    while True:  # the forwarder's shape: wait for a wake-up or a timeout, again
        wake.clear()
        try:
            await within(wake.wait(), 60)
        except TimeoutError:
            pass
        rounds.append(1)


async def test_a_cancel_that_coincides_with_the_wake_up_ends_the_loop():
    wake, rounds = asyncio.Event(), []
    task = asyncio.create_task(_wake_loop(wake, rounds))
    for _ in range(50):
        await asyncio.sleep(0)  # the loop is waiting
        wake.set()  # its wait completes ...
        task.cancel()  # ... and the cancel arrives in the same turn of the loop
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the cancellation was lost: the loop runs on"
        assert task.cancelled()
        task = asyncio.create_task(_wake_loop(wake, rounds))
    await cancelled(task)


async def test_within_bounds_a_wait_and_passes_the_result():
    assert await within(asyncio.sleep(0, "done"), 1) == "done"
    with pytest.raises(TimeoutError):
        await within(asyncio.Event().wait(), 0.01)


async def test_cancelled_ends_a_task_that_swallows_one_cancellation():
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # as wait_for did; then it waits again
        await asyncio.Event().wait()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await within(cancelled(task), 5)
    assert swallowed.is_set() and task.cancelled()


async def test_a_hung_teardown_step_fails_by_name_and_the_later_steps_still_run():
    ran: list[str] = []

    async def hangs() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError, match="hangs hung for 0 s"):
        await cleanup.release(hangs, lambda: ran.append("kill the board"), bound_s=0.05)
    assert ran == ["kill the board"]


async def test_a_step_of_its_own_timeout_is_not_called_hung():
    async def times_out() -> None:
        raise TimeoutError("the radio did not halt")

    with pytest.raises(TimeoutError, match="the radio did not halt"):
        await cleanup.release(times_out)


async def test_a_task_cancelled_again_and_again_still_ends_all_its_parts():
    # A phone's run: its finally ends its parts; `cancelled` cancels it again
    # every 50 ms, while the first part takes longer than that to end.
    first_started, first_ending = asyncio.Event(), asyncio.Event()

    async def slow_to_end() -> None:
        try:
            first_started.set()
            await asyncio.Event().wait()
        finally:
            first_ending.set()
            end = asyncio.get_running_loop().time() + 0.3
            while asyncio.get_running_loop().time() < end:  # a link slow to close
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0.01)

    async def run() -> None:
        parts = [asyncio.create_task(slow_to_end()), asyncio.create_task(asyncio.Event().wait())]
        try:
            await asyncio.gather(*parts)
        finally:
            await all_cancelled(parts)

    task = asyncio.create_task(run())
    await within(first_started.wait(), 5)
    await within(cancelled(task), 5)
    assert first_ending.is_set()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == [], "a part was left running"
