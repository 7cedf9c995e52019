"""Phones for the HIL cases that need more than the stack's one: the bonded phone
of a bare board, and strangers (unbonded centrals on the same air)."""

from __future__ import annotations

import re
from pathlib import Path

from boards.emulated.emulator import EmulatedBoard
from msa.app.bumble_link import BumbleLink

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
