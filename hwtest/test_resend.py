"""The button's re-sending (protocol/SPEC.md §6): a frame the phone does not
acknowledge is notified again after 0.5 s, then at doubling intervals up to 30 s,
so a phone that hears but does not answer costs a few notifications, not one
every half second. Counted over a window rather than timed: a busy host stretches
intervals, which only lowers the count."""

from __future__ import annotations

import asyncio
import time

import pytest

from hwtest.harness import Chain
from hwtest.rows import wait_until
from protocol import frame

pytestmark = pytest.mark.hil

WINDOW_S = 9.0  # notified at 0, then 0.5, 1.5, 3.5 and 7.5 s: 5 times (18 without back-off)


async def test_a_frame_not_acknowledged_is_re_sent_with_a_doubling_back_off(stack: Chain):
    await stack.settled()
    await stack.phone_away()
    stack.board.console.clear()
    await stack.board.press()
    counter = int((await stack.board.console.expect(rb"queued alarm (\d+)")).group(1))

    # The bonded phone's link, linked up as the app does, but it never ACKs.
    heard: list[tuple[float, int]] = []

    def hear(data: bytes) -> None:
        heard.append((time.monotonic(), frame.parse(data).counter))

    link = stack.phone.link
    await link.connect()
    try:
        await link.secure()
        await link.subscribe(hear)
        now = frame.time_payload(int(time.time()))
        await link.write(frame.control(frame.TIME, stack.phone.device_id, 0, now))
        await wait_until(lambda: bool(heard), 10, "the first notification")
        await asyncio.sleep(WINDOW_S)  # the window counted, not a wait for a condition
    finally:
        await link.disconnect()

    first = heard[0][0]
    within_window = [c for t, c in heard if t - first <= WINDOW_S]
    assert set(within_window) == {counter}, heard  # the same frame, re-sent
    assert 3 <= len(within_window) <= 6, [round(t - first, 2) for t, _ in heard]
