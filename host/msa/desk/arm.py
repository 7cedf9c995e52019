"""Arm a button's test alarm over its USB serial REPL (docs/tech-desk.md, "The test
alarm"): `data/test_armed` holds the Unix time until which the test gesture sends a
test alarm. The firmware stops while the REPL is used; it is soft-rebooted after,
and the arming counts once the phone has linked again (the phone sets the clock).
"""

from __future__ import annotations

import json
import time

from msa.desk import BoardError
from msa.errors import UsageError
from msa.firmware.deploy import connect

MAX_MINUTES = 24 * 60  # firmware/device.py MAX_ARM_S: further ahead is a mistake
PATH = "data/test_armed"
CTRL_D = b"\x04"


def arm_test_alarm(port: str, minutes: int, now: float | None = None) -> int:
    """Arm the test alarm of the button on `port` for `minutes`; the Unix time it ends."""
    from mpremote.transport import TransportError

    if not 1 <= minutes <= MAX_MINUTES:
        raise UsageError(f"--minutes is 1 to {MAX_MINUTES}, not {minutes}")
    until = int((now if now is not None else time.time()) + minutes * 60)
    data = json.dumps({"until": until}).encode()
    transport = connect(port)
    try:
        transport.enter_raw_repl(soft_reset=True)  # the firmware stops
        provisioned = transport.eval("'device.json' in __import__('os').listdir()")
        if not provisioned:
            transport.exit_raw_repl()
            raise UsageError(
                f"the board on {port} is not provisioned (no device.json): provision it "
                "first; nothing was armed"
            )
        transport.exec("import os\ntry:\n    os.mkdir('data')\nexcept OSError:\n    pass")
        transport.fs_writefile(PATH, data)
        read_back = transport.fs_readfile(PATH)
        transport.exit_raw_repl()
        transport.serial.write(CTRL_D)  # a soft reboot: the firmware runs again
    except TransportError as error:
        raise BoardError(
            f"the board on {port} stopped answering while it was armed: "
            f"{str(error).strip()}; run the same command again"
        ) from None
    finally:
        transport.close()
    if read_back != data:
        raise BoardError(f"the board on {port} did not keep {PATH}: run the command again")
    return until
