"""The firmware's heap high-water mark on the emulated board, against its budget.

A MicroPython heap fills with garbage until a collection, so sampling how full it
is says little. This benchmark asks the question that matters instead: what is
the smallest heap on which the firmware still does its work? It runs a workload
(boot, bonding, presses, a power cut, more presses) under `-X heapsize` and
bisects to the smallest heap that completes it without a MemoryError.

The interpreter also holds the emulated board's own Python modules (rom/:
`bluetooth`, `machine`, which are C on a real board); that baseline is measured
in the same run and taken off, so `high_water_bytes` is the firmware's own need.

    msa bench heap --json [--presses 10] [--resolution 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench._bonded import STEP_TIMEOUT_S, bonded
from boards.emulated.emulator import HEAP_BYTES, ROM, ROM_HEAP_ALLOWANCE
from boards.emulated.interpreter import micropython_path
from msa.waiting import within
from protocol import frame

DEVICE_ID = 0x0BE4C400
PRESS_GAP_S = 0.1  # a finger lifts between presses; closer presses are one press

ROM_PROBE = """
import gc
import asyncio, json, select, socket, struct
import _emulink, machine, bluetooth, _flash
_flash.mount(512, ())
gc.collect()
print(gc.mem_alloc())
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presses", type=int, default=10)
    parser.add_argument("--resolution", type=int, default=1024, help="bytes")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="msa-heap-") as folder:
        return asyncio.run(_bisect(Path(folder), args))


def rom_bytes() -> int:
    """The live heap of the emulated board's own modules, before any firmware."""
    with tempfile.TemporaryDirectory(prefix="msa-rom-") as empty:
        return _rom_bytes(empty)


def _rom_bytes(empty: str) -> int:
    result = subprocess.run(
        [micropython_path(), "-X", "heapsize=256K", "-c", ROM_PROBE],
        env={"MICROPYPATH": f"{ROM}:.frozen"},
        cwd=empty,  # the flash it mounts: only counted, never written
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.split()[-1])


async def _bisect(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    rom = rom_bytes()
    total = HEAP_BYTES + ROM_HEAP_ALLOWANCE
    runs = 0

    async def works(heap: int) -> bool:
        nonlocal runs
        runs += 1
        return await workload(folder / f"run{runs}", heap, args.presses) is None

    if not await works(total):
        return {"error": f"the workload fails with the full heap of {total} bytes"}
    low, high = 8 * 1024, total  # low fails (asyncio alone needs more), high works
    while high - low > args.resolution:
        middle = (low + high) // 2
        if await works(middle):
            high = middle
        else:
            low = middle
    return {
        "high_water_bytes": high - rom,
        "heap_limit_bytes": HEAP_BYTES,
        "ratio": round((high - rom) / HEAP_BYTES, 3),
        "interpreter_heap_bytes": high,
        "rom_bytes": rom,
        "resolution_bytes": args.resolution,
        "presses": args.presses,
        "runs": runs,
    }


async def workload(folder: Path, heap: int, presses: int) -> str | None:
    """Boot, bond, press, cut the power, press again: None when all of it worked,
    else why not ("MemoryError" when the heap ran out, else "stalled: ...")."""
    settings = {"key": "11" * 32}
    alarms: asyncio.Queue[int] = asyncio.Queue()
    try:
        async with bonded(folder, DEVICE_ID, settings, heap - ROM_HEAP_ALLOWANCE) as chain:
            chain.phone.on_received = lambda got, _at: (
                got.type == frame.ALARM and alarms.put_nowait(got.counter)
            )
            for round_ in range(2):
                await within(chain.phone.linked.wait(), STEP_TIMEOUT_S)
                for _ in range(presses):
                    await chain.board.press(60)
                    await within(alarms.get(), STEP_TIMEOUT_S)
                    await asyncio.sleep(PRESS_GAP_S)
                if round_ == 0:
                    await chain.board.power_cut()
                    await chain.board.power_on()
            output = chain.board.console.output.decode(errors="replace")
    except (TimeoutError, AssertionError) as error:
        said = "\n".join(getattr(error, "__notes__", ()))
        return "MemoryError" if "MemoryError" in said else f"stalled: {error!r}"
    return "MemoryError" if "MemoryError" in output else None
