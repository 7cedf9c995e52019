"""While no phone takes its frames, the button keeps every alarm and at most
MAX_HEARTBEATS heartbeats (firmware/outbox.py, protocol/SPEC.md §3.1): the flash
holds what matters and routine reports do not fill it."""

from __future__ import annotations

import re

import pytest

from boards.emulated.emulator import EmulatedBoard
from firmware.outbox import MAX_HEARTBEATS
from hwtest.bench import Dut, needs
from hwtest.harness import Chain
from hwtest.rows import alarm_frames, wait_until
from msa.waiting import within
from protocol import frame

pytestmark = [pytest.mark.hil, pytest.mark.slow]

FRAME_FILE = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{2})$")


@pytest.mark.provision(heartbeat_s=1)
async def test_away_the_button_keeps_its_alarm_and_at_most_eight_heartbeats(stack: Chain, dut: Dut):
    if not isinstance(stack.board, EmulatedBoard):
        pytest.skip("counts the frames in the emulated board's flash")
    folder = needs(stack.board, "flash").flash / "data" / "outbox"

    def waiting(kind: int) -> int:
        names = (FRAME_FILE.match(path.name) for path in folder.iterdir())
        return sum(1 for m in names if m is not None and int(m.group(1), 16) == kind)

    await dut.out_of_range()
    await within(stack.phone.link.disconnected.wait(), 5)
    stack.board.console.clear()
    await dut.press()
    await stack.board.console.expect(rb"queued alarm \d+")
    queued = lambda: stack.board.console.output.count(b"queued heartbeat")  # noqa: E731
    await wait_until(
        lambda: queued() >= MAX_HEARTBEATS + 4,
        30,
        lambda: f"{MAX_HEARTBEATS + 4} heartbeats queued while away ({queued()} so far)",
    )
    # Each new heartbeat drops the oldest beyond the eighth (a read may fall between).
    await wait_until(
        lambda: waiting(frame.HEARTBEAT) == MAX_HEARTBEATS,
        5,
        lambda: f"{MAX_HEARTBEATS} heartbeats waiting in flash ({waiting(frame.HEARTBEAT)})",
    )
    assert waiting(frame.ALARM) == 1

    await dut.in_range()
    await stack.settled()
    assert [f.fields()["presses"] for f in alarm_frames(stack)] == [1]
    assert waiting(frame.ALARM) == 0
