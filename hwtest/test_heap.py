"""The firmware within a real board's free heap: the emulated interpreter runs
with `-X heapsize` at the board's budget, and the whole workload of a button
(boot on a full flash with alarms waiting, bond, presses, a reconnect, a power
cut, presses again) fits; below the firmware's need the same workload fails for
memory, so the limit is real. The figure itself: msa bench heap."""

from __future__ import annotations

import pytest

from bench.heap import PRESSES, workload
from boards.emulated.emulator import HEAP_BYTES, ROM_HEAP_ALLOWANCE

pytestmark = [
    pytest.mark.hil,
    pytest.mark.slow,
    pytest.mark.emulated_only("the heap limit is set on the emulated interpreter (-X heapsize)"),
]

TOO_SMALL = 40 * 1024  # the firmware 0.2 high-water mark is about 64 KB
WAITING = 200  # the bench's 500 take 10 s more; the need is the bench's figure


@pytest.mark.parametrize("firmware", ["romfs", "mpy"])
async def test_the_firmware_works_within_the_boards_heap_budget(tmp_path, firmware):
    """In a ROMFS partition (bytecode in place) and as .mpy files on the flash
    (a stock ESP32 build, whose imports copy the bytecode to the heap)."""
    budget = HEAP_BYTES + ROM_HEAP_ALLOWANCE
    assert await workload(tmp_path, budget, PRESSES, WAITING, firmware) is None


async def test_below_the_firmwares_need_the_same_workload_fails_for_memory(tmp_path):
    # For memory, not for a stall of any other kind: the limit is what fails it.
    too_small = TOO_SMALL + ROM_HEAP_ALLOWANCE
    assert await workload(tmp_path, too_small, PRESSES, WAITING) == "MemoryError"
