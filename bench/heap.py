"""The firmware's heap need on the emulated board, against its budget.

A MicroPython heap fills with garbage until a collection, so sampling how full it
is says little. This benchmark asks the question that matters instead: on how
small a heap does the firmware still do its work? It runs a workload under
`-X heapsize`: boot with a full flash (heartbeats dropped) and an outbox of
waiting alarms offered on every link, bonding, presses, a reconnect after the
board left the phone's range, a power cut, more presses.

Whether a heap is enough is not monotonic in its size (fragmentation: a size can
fail where a smaller one works), so the need is not bisected. It is scanned from
the budget down, each size `--repeats` times, and the need is the smallest heap
at and above which every size tried worked every time.

The interpreter also holds the emulated board's own Python modules (rom/:
`bluetooth`, `machine`, which are C on a real board); that baseline is measured
in the same run and taken off, so `high_water_bytes` is the firmware's own need.

    msa bench heap --json [--presses 5] [--waiting 500] [--step 2048] [--repeats 3] [--source]

The firmware runs as the `.mpy` build real boards load (`msa firmware build`);
`--source` runs its sources, which the board compiles as it imports them.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._args import out_of_bounds
from bench._bonded import STEP_TIMEOUT_S, Bonded, bonded
from boards.emulated.emulator import HEAP_BYTES, ROM, ROM_HEAP_ALLOWANCE, EmulatedBoard
from boards.emulated.interpreter import micropython_path
from firmware.outbox import HEARTBEAT_BLOCKS, Outbox
from msa.waiting import wait_until, within
from protocol import frame, payload

DEVICE_ID = 0x0BE4C400
KEY = bytes([0x11] * 32)
PRESS_GAP_S = 0.1  # a finger lifts between presses; closer presses are one press
# The flash left with room for the workload's alarms, not for a heartbeat: full.
FREE_BLOCKS = HEARTBEAT_BLOCKS - 1
PRESSES = 5  # per round, three rounds
WAITING = 500  # alarms in the outbox at boot, offered again on every link
OFFER_S = 0.05  # a waiting alarm offered to the phone takes about 12 ms
FLOOR = 8 * 1024  # asyncio alone needs more: the scan never goes below

ROM_PROBE = """
import gc
import asyncio, json, select, socket, struct
import _emulink, machine, bluetooth, _flash
_flash.mount(512, ())
gc.collect()
print(gc.mem_alloc())
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presses", type=int, default=PRESSES, help="per round (3 rounds)")
    parser.add_argument("--waiting", type=int, default=WAITING, help="alarms in the outbox at boot")
    parser.add_argument("--step", type=int, default=2048, help="bytes between heaps tried")
    parser.add_argument("--repeats", type=int, default=3, help="runs per heap size")
    parser.add_argument(
        "--source",
        action="store_true",
        help="run the firmware's sources (compiled on the board) instead of the .mpy "
        "build real boards run",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    error = out_of_bounds(
        args, (("presses", 1, 100), ("waiting", 0, 4500), ("step", 256, 16384), ("repeats", 1, 10))
    )
    if error is not None:
        return error
    with tempfile.TemporaryDirectory(prefix="msa-heap-") as folder:
        return asyncio.run(_scan(Path(folder), args))


def rom_bytes() -> int:
    """The live heap of the emulated board's own modules, before any firmware."""
    with tempfile.TemporaryDirectory(prefix="msa-rom-") as empty:
        result = subprocess.run(
            [micropython_path(), "-X", "heapsize=256K", "-c", ROM_PROBE],
            env={"MICROPYPATH": f"{ROM}:.frozen"},
            cwd=empty,  # the flash it mounts: only counted, never written
            capture_output=True,
            text=True,
            check=True,
        )
    return int(result.stdout.split()[-1])


async def _scan(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    rom = rom_bytes()
    total = HEAP_BYTES + ROM_HEAP_ALLOWANCE
    runs = 0
    need = None  # the smallest heap tried at and above which everything worked
    failed = None
    heap = total
    while heap >= FLOOR and failed is None:
        for _ in range(args.repeats):
            runs += 1
            outcome = await workload(
                folder / f"run{runs}", heap, args.presses, args.waiting, not args.source
            )
            if outcome is not None:
                failed = {"heap_bytes": heap, "why": outcome}
                break
        else:
            need = heap
            heap -= args.step
    if need is None:
        return {"error": f"the workload fails with the full heap of {total} bytes", **failed}
    return {
        "high_water_bytes": need - rom,
        "firmware": "source" if args.source else "bytecode",
        "heap_limit_bytes": HEAP_BYTES,
        "ratio": round((need - rom) / HEAP_BYTES, 3),
        "interpreter_heap_bytes": need,
        "rom_bytes": rom,
        "first_failure": failed,
        "step_bytes": args.step,
        "repeats": args.repeats,
        "presses": 3 * args.presses,
        "waiting_alarms": args.waiting,
        "runs": runs,
    }


def full_flash(waiting: int) -> Callable[[EmulatedBoard], None]:
    """A flash as a long absence leaves it: `waiting` alarms no backend receipted,
    and the rest taken, so that heartbeats find no room and alarms still do."""

    def prepare(board: EmulatedBoard) -> None:
        box = Outbox(folder=str(board.flash / "data"))
        for n in range(waiting):
            box.add(KEY, frame.ALARM, DEVICE_ID, payload.alarm_payload(1_780_000_000 + n, 3000))
        board.fill_flash(FREE_BLOCKS)

    return prepare


async def workload(
    folder: Path, heap: int, presses: int, waiting: int, bytecode: bool = True
) -> str | None:
    """Boot on a full flash, bond, press; leave the phone's range and come back,
    press; cut the power, press. None when all of it worked, else why not
    ("MemoryError" when the heap ran out, else "stalled: ...")."""
    settings = {"key": KEY.hex()}
    offered: set[int] = set()  # the waiting alarms the phone got on this link
    alarms: asyncio.Queue[int] = asyncio.Queue()

    def received(got: frame.Frame, _at: float) -> None:
        if got.type == frame.ALARM and got.counter <= waiting:
            offered.add(got.counter)
        elif got.type == frame.ALARM:
            alarms.put_nowait(got.counter)

    async def round_of_presses(chain: Bonded) -> None:
        # The waiting alarms first: a new one is offered after them (oldest first).
        await within(chain.phone.linked.wait(), STEP_TIMEOUT_S)
        offering_s = STEP_TIMEOUT_S + waiting * OFFER_S
        await wait_until(
            lambda: len(offered) == waiting, offering_s, f"{waiting} alarms offered", every=0.02
        )
        offered.clear()
        for _ in range(presses):
            await chain.board.press(60)
            await within(alarms.get(), STEP_TIMEOUT_S)
            await asyncio.sleep(PRESS_GAP_S)

    heap_bytes = heap - ROM_HEAP_ALLOWANCE
    try:
        async with bonded(
            folder,
            DEVICE_ID,
            settings,
            heap_bytes,
            full_flash(waiting),
            b"heartbeats dropped",
            bytecode=bytecode,
        ) as chain:
            chain.phone.on_received = received
            await round_of_presses(chain)
            chain.board.out_of_range()
            linked = chain.phone.linked
            await wait_until(
                lambda: not linked.is_set(), STEP_TIMEOUT_S, "the link lost", every=0.02
            )
            chain.board.in_range()
            await round_of_presses(chain)
            await chain.board.power_cut()
            await chain.board.power_on()
            await round_of_presses(chain)
            output = chain.board.console.output.decode(errors="replace")
    except (TimeoutError, AssertionError) as error:
        said = "\n".join(getattr(error, "__notes__", ()))
        return "MemoryError" if "MemoryError" in said else f"stalled: {error!r}"
    return "MemoryError" if "MemoryError" in output else None
