"""Arm a button's test alarm over its USB serial REPL (docs/tech-desk.md, "The test
alarm"): `data/test_armed` holds the Unix time until which the test gesture sends a
test alarm. The firmware stops while the REPL is used; it is soft-rebooted after,
and the arming counts once the phone has linked again (the phone sets the clock).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from msa.desk import BoardError, on_repl
from msa.errors import UsageError

if TYPE_CHECKING:
    from mpremote.transport_serial import SerialTransport

MAX_MINUTES = 24 * 60  # firmware/device.py MAX_ARM_S: further ahead is a mistake
PATH = "data/test_armed"
CTRL_D = b"\x04"


def arm_test_alarm(port: str, minutes: int, now: float | None = None) -> int:
    """Arm the test alarm of the button on `port` for `minutes`; the Unix time it ends."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise UsageError(f"--minutes is 1 to {MAX_MINUTES}, not {minutes}")
    until = int((now if now is not None else time.time()) + minutes * 60)
    data = json.dumps({"until": until}).encode()

    def run(transport: SerialTransport) -> bytes | None:
        if not transport.eval("'device.json' in __import__('os').listdir()"):
            return None
        transport.exec("import os\ntry:\n    os.mkdir('data')\nexcept OSError:\n    pass")
        transport.fs_writefile(PATH, data)
        read_back = transport.fs_readfile(PATH)
        return read_back

    read_back = on_repl(port, run)
    reboot(port)  # the firmware runs again, armed or not
    if read_back is None:
        raise UsageError(
            f"the board on {port} is not provisioned (no device.json): provision it "
            "first; nothing was armed"
        )
    if read_back != data:
        raise BoardError(f"the board on {port} did not keep {PATH}: run the command again")
    return until


def reboot(port: str) -> None:
    """A soft reboot at the friendly REPL: the board runs main.py, its firmware."""
    import serial

    with serial.Serial(port, 115200, timeout=0.2) as line:
        line.write(CTRL_D)
