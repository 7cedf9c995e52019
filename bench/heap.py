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

    msa bench heap --json [--presses 5] [--waiting 500] [--step 2048] [--repeats 3]
                          [--firmware romfs|mpy|source]

The firmware runs as `msa firmware build` makes it for a board with a ROMFS
partition (`romfs`: its libraries' bytecode runs in place from flash, as frozen
code does); `mpy` puts the same `.mpy` files on the flash, where imports copy
them into the heap (a stock ESP32 build); `source` runs its sources, which the
board compiles as it imports them. The ROMFS image sits in the emulated board's
heap (a board maps it from flash): the baseline counts it with the modules.
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
from boards.emulated.emulator import (
    FIRMWARE_FORMS,
    HEAP_BYTES,
    ROM,
    ROM_HEAP_ALLOWANCE,
    EmulatedBoard,
)
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
import _romfs
_romfs.mount()
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
        "--firmware",
        choices=FIRMWARE_FORMS,
        default="romfs",
        help="romfs: the .mpy build in a ROMFS partition, run in place; mpy: the same "
        "files on the flash, copied to the heap as they are imported; source: compiled "
        "on the board",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    error = out_of_bounds(
        args, (("presses", 1, 100), ("waiting", 0, 4500), ("step", 256, 16384), ("repeats", 1, 10))
    )
    if error is not None:
        return error
    with tempfile.TemporaryDirectory(prefix="msa-heap-") as folder:
        return asyncio.run(_scan(Path(folder), args))


def rom_bytes(romfs: Path | None = None) -> int:
    """The live heap of the emulated board's own modules, and of the ROMFS image
    (`romfs`) that a board maps from flash, before any firmware."""
    env = {"MICROPYPATH": f"{ROM}:.frozen"}
    if romfs is not None:
        env["MSA_ROMFS"] = str(romfs)
    with tempfile.TemporaryDirectory(prefix="msa-rom-") as empty:
        result = subprocess.run(
            [micropython_path(), "-X", "heapsize=256K", "-c", ROM_PROBE],
            env=env,
            cwd=empty,  # the flash it mounts: only counted, never written
            capture_output=True,
            text=True,
            check=True,
        )
    return int(result.stdout.split()[-1])


async def _scan(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    romfs = None  # the image the board runs from: its heap is the board's flash
    if args.firmware == "romfs":
        from msa.firmware.build import ROMFS_IMAGE, build

        build("emulated", folder / "build")
        romfs = folder / "build" / ROMFS_IMAGE
    romfs_bytes = romfs.stat().st_size if romfs is not None else 0
    rom = rom_bytes(romfs)
    total = HEAP_BYTES + ROM_HEAP_ALLOWANCE
    runs = 0
    need = None  # the smallest heap tried at and above which everything worked
    failed = None
    heap = total
    while heap >= FLOOR and failed is None:
        for _ in range(args.repeats):
            runs += 1
            outcome = await workload(
                folder / f"run{runs}", heap, args.presses, args.waiting, args.firmware
            )
            if outcome is not None:
                failed = {"heap_bytes": heap, "why": outcome}
                break
        else:
            need = heap
            heap -= args.step
    if need is None:
        return {"error": f"the workload fails with the full heap of {total} bytes", **failed}
    need += romfs_bytes  # what the interpreter had: the image is on top (emulator.py)
    return {
        "high_water_bytes": need - rom,
        "firmware": args.firmware,
        "heap_limit_bytes": HEAP_BYTES,
        "ratio": round((need - rom) / HEAP_BYTES, 3),
        "interpreter_heap_bytes": need,
        "rom_bytes": rom,
        "romfs_bytes": romfs_bytes,
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
    folder: Path, heap: int, presses: int, waiting: int, firmware: str = "romfs"
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
            firmware=firmware,
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
        if "MemoryError" in said:
            return "MemoryError"
        return f"stalled: {error!r}\n{said[-1500:]}"  # the console's last words: why
    return "MemoryError" if "MemoryError" in output else None
