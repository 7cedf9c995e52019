"""What goes on a button's flash, the same for every board.

/main.py            firmware/main.py: runs at power-up
/board.py           boards/<board>/board.py: pins, ADC, radio of that board
/lib/firmware/      firmware/*.py
/lib/protocol/      the protocol code shared with the host
/device.json        provisioning (written by the tech desk, not by the image)
/data/              what the firmware keeps: counter, outbox, bonds
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOARDS = ("esp32", "esp32c3", "nrf52840", "emulated")
PROTOCOL_MODULES = ("__init__.py", "frame.py", "mac.py", "gatt.py", "payload.py")


def files(board: str) -> dict[str, Path]:
    """Map each path on the flash to the source file that goes there."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; one of {', '.join(BOARDS)}")
    image = {
        "main.py": ROOT / "firmware" / "main.py",
        "board.py": ROOT / "boards" / board / "board.py",
    }
    for source in sorted((ROOT / "firmware").glob("*.py")):
        if source.name != "main.py":
            image[f"lib/firmware/{source.name}"] = source
    for name in PROTOCOL_MODULES:
        image[f"lib/protocol/{name}"] = ROOT / "protocol" / name
    return image


def write(flash: Path, board: str) -> list[str]:
    """Copy the firmware image into a flash folder; state and provisioning stay."""
    written = []
    for target, source in files(board).items():
        path = flash / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        written.append(target)
    return written
