"""Phones for the HIL cases that need more than the stack's one: the bonded phone
of a bare board, strangers (unbonded centrals on the same air), and the bonded
phone gone wrong (it stores and ACKs, never forwards)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

from boards.emulated.emulator import EmulatedBoard
from hwtest.harness import Chain
from msa.app.bumble_link import BumbleLink
from msa.app.forwarder import Forwarder
from msa.app.outbox import Outbox
from msa.app.phone import Phone
from msa.waiting import cancelled, within

FIRMWARE_APP = Path(__file__).resolve().parents[1] / "firmware" / "app.py"


def firmware_version() -> str:
    """firmware/app.py's VERSION, read as text (the module is MicroPython)."""
    found = re.search(r'^VERSION = "([^"]+)"', FIRMWARE_APP.read_text(), re.MULTILINE)
    assert found, "firmware/app.py has no VERSION"
    return found.group(1)


async def bonded_phone(board: EmulatedBoard, folder: Path) -> BumbleLink:
    """Pair a phone with the board as the tech desk does, then let it go."""
    link = BumbleLink(board.address, folder, local_link=board.link)
    await link.connect()
    await link.pair()
    await link.disconnect()
    return link


UNREACHABLE_BACKEND = "http://127.0.0.1:9"  # nothing listens: every forward fails


def storing_phone(stack: Chain, folder: Path) -> Phone:
    """The stack's bonded phone gone wrong: it stores every frame and ACKs it, and
    never forwards one (a broken app, or another app on the same OS-level bond).
    It shares the stack's link: run it while the stack's own phone is away."""
    assert stack.phone is not None
    outbox = Outbox(folder / "outbox.db")
    forwarder = Forwarder(outbox, UNREACHABLE_BACKEND, "-")
    return Phone(stack.phone.link, outbox, forwarder, stack.phone.device_id)


@contextlib.asynccontextmanager
async def running(phone: Phone) -> AsyncIterator[Phone]:
    """Run a phone (linked, ACKing, forwarding) until the block ends; then it lets go."""
    task = asyncio.create_task(phone.run())
    try:
        await within(phone.linked.wait(), 30)
        yield phone
    finally:
        await cancelled(task)
        await phone.link.disconnect()
        await phone.forwarder.close()
        phone.outbox.close()
