"""`msa provision`, its steps on the button over the USB serial REPL (mpremote's
transport) and in the backend, each one idempotent so that the same command run
again after an interruption finishes where it stopped:

1. the board: which chip, which firmware (it must be this tool's version);
2. the backend: the button's key (new, CSPRNG, wrapped under the KEK), registered
   for the person and assigned to her in the inventory, and a phone token; a run
   that finds the device already hers with an active key keeps that key and epoch
   (so a cut-short run never leaves two keys), and issues the token again;
3. the board: `device.json` (id, key, epoch, settings) written and read back; an
   earlier case's `data/` (bonds, queue, counter) erased when the key is new to it;
4. the firmware rebooted, and its start line read: it runs as that device.

Bonding with the victim's phone and the test call with the CIC follow (`msa app
pair`, `msa arm-test`); the command says so when it ends.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msa.desk import BoardError, on_repl
from msa.desk.wipe import ON_BOARD
from msa.errors import UsageError

if TYPE_CHECKING:
    from mpremote.transport_serial import SerialTransport

    from msa.backend.store import Store

FIRMWARE_APP = Path(__file__).resolve().parents[3] / "firmware" / "app.py"
BOOT_TIMEOUT_S = 30.0
CTRL_D = b"\x04"


def tool_firmware_version() -> str:
    found = re.search(r'^VERSION = "([^"]+)"', FIRMWARE_APP.read_text(), re.M)
    assert found is not None
    return found.group(1)


@dataclass
class OnBoard:
    machine: str  # sys.implementation._machine: the chip, as the port names it
    firmware: str | None  # its firmware's VERSION, None without one
    device_json: dict[str, Any] | None


def read_board(port: str) -> OnBoard:
    """Step 1: what the button on `port` is and holds (its firmware stops)."""

    def read(transport: SerialTransport) -> OnBoard:
        transport.exec(ON_BOARD)
        machine = str(transport.eval("__import__('sys').implementation._machine"))
        try:
            firmware = str(transport.eval("__import__('firmware.app').app.VERSION"))
        except Exception:  # TransportExecError: no firmware (or a broken one)
            firmware = None
        text = transport.eval("open('device.json').read() if _exists('device.json') else ''")
        try:
            held = json.loads(text) if text else None
        except ValueError:
            held = None
        return OnBoard(machine, firmware, held if isinstance(held, dict) else None)

    return on_repl(port, read)


def write_board(port: str, settings: dict[str, Any], erase_data: bool) -> None:
    """Step 3: device.json written and read back, data/ erased if asked; then the
    firmware is rebooted (step 4 reads its start line)."""
    data = json.dumps(settings).encode()

    def write(transport: SerialTransport) -> None:
        transport.exec(ON_BOARD)
        if erase_data:
            transport.exec("_rm('data')")
        transport.fs_writefile("device.json.tmp", data)
        transport.exec("import os\nos.rename('device.json.tmp', 'device.json')")
        if transport.fs_readfile("device.json") != data:
            raise BoardError(f"the board on {port} did not keep device.json: run the command again")

    on_repl(port, write)  # wait_for_firmware() reboots it


def wait_for_firmware(port: str, device_id: int, timeout_s: float = BOOT_TIMEOUT_S) -> str:
    """Step 4: the firmware's start line for this device, from the serial output."""
    import serial

    wanted = re.compile(rb"msa: firmware (\S+) on .* device %08x[^\r\n]*" % device_id)
    seen = b""
    deadline = time.monotonic() + timeout_s
    with serial.Serial(port, 115200, timeout=0.2) as line:
        line.write(CTRL_D)  # a soft reboot at the friendly REPL runs main.py
        while time.monotonic() < deadline:
            seen += line.read(4096)
            found = wanted.search(seen)
            if found:
                return found.group(0).decode(errors="replace")
    tail = seen[-300:].decode(errors="replace")
    raise BoardError(
        f"the firmware on {port} did not start as device {device_id:08x} within "
        f"{timeout_s:.0f} s (it said: {tail!r}); run the command again"
    )


@dataclass
class Issued:
    epoch: int
    key: bytes
    phone_token: str
    new_key: bool  # False: the key of a run cut short, kept
    rotated: bool = False  # a new key for the same person's button: bonds and queue stay


async def issue(
    store: Store, device_id: int, person_id: int, rotate: bool = False, on_board: str = ""
) -> Issued:
    """Step 2: the key and the phone token, for this person. `rotate`: a new key
    (the next epoch) for a button that holds the active one (`on_board`, hex); a
    button that does not is given the active one, which finishes a rotation or a
    provisioning that was cut short instead of starting another."""
    from msa.backend.auth import hash_token, new_token

    token = new_token()
    active = await store.active_key(device_id)
    if active is not None and active[2] == person_id:
        epoch, key, _ = active
        if not (rotate and on_board == key.hex()):
            await store.link_phone(hash_token(token), person_id, device_id, epoch)
            return Issued(epoch, key, token, False)
    key = secrets.token_bytes(32)
    epoch = await store.provision_device(device_id, key, person_id, hash_token(token))
    return Issued(epoch, key, token, True, rotated=active is not None and active[2] == person_id)


def check_board(port: str, held: OnBoard, device_id: int) -> None:
    """Step 1's verdict: the right firmware, and not another button."""
    version = tool_firmware_version()
    if held.firmware is None:
        raise UsageError(
            f"the board on {port} ({held.machine}) has no msa firmware: "
            f"msa firmware deploy --port {port} --board BOARD first"
        )
    if held.firmware != version:
        raise UsageError(
            f"the board on {port} runs firmware {held.firmware}, this tool provisions "
            f"{version}: msa firmware deploy --port {port} --board BOARD first"
        )
    other = (held.device_json or {}).get("device_id")
    if other is not None and other != device_id:
        raise UsageError(
            f"the board on {port} is device {other:08x}, not {device_id:08x}: "
            f"msa decommission it first, or plug in the button you mean"
        )
