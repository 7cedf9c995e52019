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
from msa.desk.wipe import ON_BOARD
from msa.errors import UsageError

if TYPE_CHECKING:
    from mpremote.transport_serial import SerialTransport

MAX_MINUTES = 24 * 60  # firmware/device.py MAX_ARM_S: further ahead is a mistake
PATH = "data/test_armed"


def arm_test_alarm(port: str, minutes: int, now: float | None = None) -> int:
    """Arm the test alarm of the button on `port` for `minutes`; the Unix time it ends."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise UsageError(f"--minutes is 1 to {MAX_MINUTES}, not {minutes}")
    until = int((now if now is not None else time.time()) + minutes * 60)
    # The firmware runs again after, armed or not.
    if not on_repl(port, lambda transport: arm(transport, port, until), reboot=True):
        raise UsageError(
            f"the board on {port} is not provisioned (no device.json): provision it "
            "first; nothing was armed"
        )
    return until


def arm(transport: SerialTransport, port: str, until: int) -> bool:
    """At the raw REPL: armed until `until` (Unix s), read back; False, and nothing
    written, on a board that is not provisioned."""
    transport.exec(ON_BOARD)
    if not transport.eval("_exists('device.json')"):
        return False
    write_arming(transport, port, until)
    return True


def write_arming(transport: SerialTransport, port: str, until: int) -> None:
    """On a board at the raw REPL with ON_BOARD's helpers: armed until `until`, read back."""
    data = json.dumps({"until": until}).encode()
    transport.exec("if not _exists('data'):\n    os.mkdir('data')")
    transport.fs_writefile(PATH, data)
    if transport.fs_readfile(PATH) != data:
        raise BoardError(f"the board on {port} did not keep {PATH}: run the command again")
