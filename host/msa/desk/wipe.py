"""Wipe a button over its USB serial REPL, and prove it blank by reading it back.

What goes: `device.json` (the key and the settings) and `data/` (the bonds, the
outbox of frames, the counter, the crash notes). The firmware stays: the button
is ready for its next case, and says `msa: not provisioned; the radio stays off`
when it powers up. mpremote's transport does the talking, as for a deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from msa.desk import BoardError, on_repl

if TYPE_CHECKING:
    from mpremote.transport_serial import SerialTransport

STATE = ("device.json", "data")

ON_BOARD = """
import os, json

def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False

def _rm(path):
    if not _exists(path):
        return
    if os.stat(path)[0] & 0x4000:
        for entry in list(os.ilistdir(path)):
            _rm(path + "/" + entry[0])
        os.rmdir(path)
    else:
        os.remove(path)

def _device_id():
    try:
        with open("device.json") as f:
            return json.load(f).get("device_id")
    except (OSError, ValueError):
        return None
"""


@dataclass
class Wiped:
    port: str
    was_provisioned: bool  # False: a re-run; it was blank already
    left: list[str]  # what is on the flash after (the firmware)


def wipe(port: str, device_id: int) -> Wiped:
    """Wipe the button on `port`, which must be `device_id` (or blank already)."""

    def run(transport: SerialTransport) -> tuple[list[str], list[str], list[str]]:
        transport.exec(ON_BOARD)
        found = transport.eval("_device_id()")
        present = [path for path in STATE if transport.eval(f"_exists({path!r})")]
        if found is not None and found != device_id:
            raise BoardError(
                f"the board on {port} is device {found:08x}, not {device_id:08x}: "
                "nothing was wiped; plug in the button you mean"
            )
        for path in present:
            transport.exec(f"_rm({path!r})")
        still = [path for path in STATE if transport.eval(f"_exists({path!r})")]
        return present, still, sorted(str(name) for name in transport.eval("os.listdir()"))

    present, still, left = on_repl(port, run)
    if still:
        raise BoardError(
            f"the board on {port} still holds {', '.join(still)} after the wipe: "
            "run the same command again; if it stays, reflash it (docs/flashing.md)"
        )
    return Wiped(port, bool(present), left)
