"""A bare emulated board with its bonded phone and no backend, for the benchmarks
that measure the button itself (heap, battery): the phone keeps what it gets."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boards.emulated.air import Air
from boards.emulated.emulator import HEAP_BYTES, EmulatedBoard
from msa.app.bumble_link import BumbleLink
from msa.app.forwarder import Forwarder
from msa.app.link import LinkParameters
from msa.app.outbox import Outbox
from msa.app.phone import Phone
from msa.waiting import cancelled

UNREACHABLE_BACKEND = "http://127.0.0.1:9"  # the phone keeps the frames; not measured here
STEP_TIMEOUT_S = 15.0


@dataclass
class Bonded:
    board: EmulatedBoard
    phone: Phone
    link: BumbleLink


@contextlib.asynccontextmanager
async def bonded(
    folder: Path,
    device_id: int,
    settings: dict[str, Any],
    heap_bytes: int = HEAP_BYTES,
    prepare: Callable[[EmulatedBoard], None] | None = None,
    ready: bytes = b"queued heartbeat",
    air: Air | None = None,
    parameters: LinkParameters | None = None,
    firmware: str = "source",
) -> AsyncIterator[Bonded]:
    """Boot a provisioned board, bond its phone and run the phone's link; the
    phone's `on_received` is the caller's to set before the link comes up.
    `prepare` gets the provisioned board before its first boot (its flash's state);
    `ready` is what the board prints once its tasks run (a regex); `air` (default: the
    instant one) and the `parameters` the phone asks for once linked; `firmware`: the
    form it is flashed in (`EmulatedBoard.flash_firmware`)."""
    air = air or Air()
    board = EmulatedBoard(folder / "board", air, heap_bytes=heap_bytes)
    board.flash_firmware(firmware)
    board.provision({"device_id": device_id, **settings})
    if prepare is not None:
        prepare(board)
    outbox = Outbox(folder / "phone" / "outbox.db")
    link = BumbleLink(board.address, folder / "phone", local_link=air)
    link.parameters = parameters
    phone = Phone(link, outbox, Forwarder(outbox, UNREACHABLE_BACKEND, "-"), device_id)
    task = None
    try:
        await board.power_on()
        await board.console.expect(ready + b"|MemoryError", STEP_TIMEOUT_S)
        if b"MemoryError" in board.console.output:
            raise AssertionError("the board ran out of memory as it started")
        await phone.pair()
        task = asyncio.create_task(phone.run())
        yield Bonded(board, phone, link)
    except Exception as error:
        if board.console is not None:  # what the board said is why, most often
            said = board.console.output[-4000:].decode(errors="replace")
            error.add_note(f"the board's console:\n{said}")
        raise
    finally:
        if task is not None:
            await cancelled(task)
        await link.close()
        await phone.forwarder.close()
        outbox.close()
        await board.close()
        shutil.rmtree(folder, ignore_errors=True)
