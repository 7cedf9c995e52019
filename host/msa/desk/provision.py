"""`msa provision`, its steps on the button over the USB serial REPL (mpremote's
transport) and in the backend, each one idempotent so that the same command run
again after an interruption finishes where it stopped:

1. the board: which chip, which firmware (it must be this tool's version: with
   `--board`, a board without it gets it deployed), and whether it holds a bond;
2. the backend: the button's key (new, CSPRNG, wrapped under the KEK), registered
   for the person and assigned to her in the inventory, and a phone token; a run
   that finds the device already hers with an active key keeps that key and epoch
   (so a cut-short run never leaves two keys) and the phone's token (the app may
   hold it: `--new-token` when it was lost);
3. the board: `device.json` (id, key, epoch, settings) written and read back; an
   earlier case's `data/` (bonds, queue, counter) erased when the key is new to it;
   the test alarm armed, unless the CIC has confirmed this button's test already;
4. the firmware rebooted, and its start line read: it runs as that device;
5. the victim's phone bonded: the firmware says so on USB ("msa: bonded");
6. the test alarm confirmed by the CIC on its console (which records the day
   support starts), read from the backend's database: once per key epoch, so a
   rotated key or a replacement button is tested too.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msa.desk import BoardError, on_repl
from msa.desk.arm import write_arming
from msa.desk.wipe import ON_BOARD
from msa.errors import UsageError

if TYPE_CHECKING:
    from mpremote.transport_serial import SerialTransport

    from msa.backend.store import Store

FIRMWARE_APP = Path(__file__).resolve().parents[3] / "firmware" / "app.py"
BOOT_TIMEOUT_S = 30.0
CTRL_D = b"\x04"
BONDED = b"msa: bonded"
CONFIRM_POLL_S = 0.5


def tool_firmware_version() -> str:
    found = re.search(r'^VERSION = "([^"]+)"', FIRMWARE_APP.read_text(), re.M)
    assert found is not None
    return found.group(1)


@dataclass
class OnBoard:
    machine: str  # sys.implementation._machine: the chip, as the port names it
    firmware: str | None  # its firmware's VERSION, None without one
    device_json: dict[str, Any] | None
    bonded: bool = False  # it holds a phone's bond (data/bonds.json)


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
        bonded = transport.eval(
            "_exists('data/bonds.json') and len(open('data/bonds.json').read()) > 2"
        )
        return OnBoard(machine, firmware, held if isinstance(held, dict) else None, bool(bonded))

    return on_repl(port, read)


def write_board(
    port: str, settings: dict[str, Any], erase_data: bool, test_until: int | None = None
) -> None:
    """Step 3: device.json written and read back, data/ erased if asked, the test
    alarm armed until `test_until` (Unix s); then the firmware is rebooted (step 4
    reads its start line)."""
    data = json.dumps(settings).encode()

    def write(transport: SerialTransport) -> None:
        transport.exec(ON_BOARD)
        if erase_data:
            transport.exec("_rm('data')")
        transport.fs_writefile("device.json.tmp", data)
        transport.exec("import os\nos.rename('device.json.tmp', 'device.json')")
        if transport.fs_readfile("device.json") != data:
            raise BoardError(f"the board on {port} did not keep device.json: run the command again")
        if test_until is not None:
            write_arming(transport, port, test_until)

    on_repl(port, write)  # wait_for_firmware() reboots it


class Console:
    """The board's serial output, read while its firmware runs (steps 4 and 5)."""

    def __init__(self, port: str) -> None:
        import serial

        self.port = port
        self.line = serial.Serial(port, 115200, timeout=0.2)
        self.seen = b""

    def close(self) -> None:
        self.line.close()

    def reboot(self) -> None:
        self.line.write(CTRL_D)  # a soft reboot at the friendly REPL runs main.py

    def expect(self, wanted: re.Pattern[bytes], timeout_s: float) -> re.Match[bytes] | None:
        """The first match of `wanted` in what the board said since the last one."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = wanted.search(self.seen)
            if found:
                self.seen = self.seen[found.end() :]
                return found
            if time.monotonic() >= deadline:
                return None
            self.seen = self.seen[-65536:] + self.line.read(4096)

    def tail(self) -> str:
        return self.seen[-300:].decode(errors="replace")


def wait_for_firmware(console: Console, device_id: int, timeout_s: float = BOOT_TIMEOUT_S) -> str:
    """Step 4: reboot, and the firmware's start line for this device."""
    wanted = re.compile(rb"msa: firmware (\S+) on .* device %08x[^\r\n]*" % device_id)
    console.reboot()
    found = console.expect(wanted, timeout_s)
    if found is None:
        raise BoardError(
            f"the firmware on {console.port} did not start as device {device_id:08x} within "
            f"{timeout_s:.0f} s (it said: {console.tail()!r}); run the command again"
        )
    return found.group(0).decode(errors="replace")


def wait_for_bond(console: Console, timeout_s: float) -> None:
    """Step 5: the firmware's word that the victim's phone bonded."""
    if console.expect(re.compile(re.escape(BONDED)), timeout_s) is None:
        raise BoardError(
            f"no phone bonded with the button within {timeout_s / 60:.0f} min: bring the "
            "victim's phone close, pair it in the 112 app (or msa app pair), and run the "
            "same command again"
        )


async def wait_for_test(
    store: Store, device_id: int, person_id: int, epoch: int, timeout_s: float
) -> None:
    """Step 6: the CIC's confirmation of this button's test alarm under its key of
    `epoch`, in the database."""
    deadline = time.monotonic() + timeout_s
    while not await store.test_alarm_confirmed(device_id, person_id, epoch):
        if time.monotonic() >= deadline:
            raise BoardError(
                f"the CIC did not confirm a test alarm within {timeout_s / 60:.0f} min: "
                "check that the phone relays (its token given), make the test gesture, ask "
                "the CIC to confirm it, and run the same command again"
            )
        await asyncio.sleep(CONFIRM_POLL_S)  # a condition poll of the database


@dataclass
class Issued:
    epoch: int
    key: bytes
    phone_token: str | None  # None: the phone's token of an earlier run stays
    new_key: bool  # False: the key of a run cut short, kept
    rotated: bool = False  # a new key for the same person's button: bonds and queue stay


async def issue(
    store: Store,
    device_id: int,
    person_id: int,
    rotate: bool = False,
    on_board: str = "",
    reissue: bool = False,
) -> Issued:
    """Step 2: the key and the phone token, for this person. `rotate`: a new key
    (the next epoch) for a button that holds the active one (`on_board`, hex); a
    button that does not is given the active one, which finishes a rotation or a
    provisioning that was cut short instead of starting another. The phone's
    token of that key stays (the app may hold it already) unless `reissue`."""
    from msa.backend.auth import hash_token, new_token

    token = new_token()
    active = await store.active_key(device_id)
    if active is not None and active[2] == person_id:
        epoch, key, _ = active
        if not (rotate and on_board == key.hex()):
            if not reissue and await store.has_phone_token(device_id, epoch):
                return Issued(epoch, key, None, False)
            await store.link_phone(hash_token(token), person_id, device_id, epoch)
            return Issued(epoch, key, token, False)
    key = secrets.token_bytes(32)
    epoch = await store.provision_device(device_id, key, person_id, hash_token(token))
    return Issued(epoch, key, token, True, rotated=active is not None and active[2] == person_id)


def needs_firmware(held: OnBoard) -> bool:
    """No msa firmware on it, or not this tool's version."""
    return held.firmware != tool_firmware_version()


def deploy_firmware(port: str, board: str) -> int:
    """Step 1's remedy: this tool's build for `board`, deployed and verified (the
    chip checked first; device.json and data/ untouched). The files written."""
    from msa.firmware.build import build
    from msa.firmware.deploy import deploy

    with tempfile.TemporaryDirectory(prefix="msa-build-") as scratch:
        folder = Path(scratch) / board
        report = deploy(port, build(board, folder), folder, board=board, reboot=False)
    return len(report.written)


def check_chip(port: str, held: OnBoard, board: str | None) -> None:
    """The chip `board`'s build is for (a build for another has the wrong button pin)."""
    from msa.firmware.deploy import wrong_board

    if board is not None and wrong_board(board, held.machine):
        raise UsageError(
            f"the board on {port} says it is a {held.machine!r}, not an {board}: "
            "give its --board; nothing was written"
        )


def check_board(port: str, held: OnBoard, device_id: int, board: str | None = None) -> None:
    """Step 1's verdict: the chip `board` is built for, the right firmware, and not
    another button."""
    check_chip(port, held, board)
    version = tool_firmware_version()
    deploy_it = f"run again with --board BOARD to deploy it (or msa firmware deploy --port {port})"
    if held.firmware is None:
        raise UsageError(f"the board on {port} ({held.machine}) has no msa firmware: {deploy_it}")
    if held.firmware != version:
        raise UsageError(
            f"the board on {port} runs firmware {held.firmware}, this tool provisions "
            f"{version}: {deploy_it}"
        )
    other = (held.device_json or {}).get("device_id")
    if other is not None and other != device_id:
        raise UsageError(
            f"the board on {port} is device {other:08x}, not {device_id:08x}: "
            f"msa decommission it first, or plug in the button you mean"
        )
