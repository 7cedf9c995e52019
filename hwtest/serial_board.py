"""A real button on a USB serial port, driven as `Stack` drives the emulated board.

    board = SerialBoard("/dev/ttyUSB0", Path("run/board"), SerialDut(bench), "AA:BB:CC:DD:EE:FF")
    identity = await board.read_provisioning()        # device.json, over the REPL
    await board.boot({**identity, "heartbeat_s": 5})   # rewrite it, erase data/, reboot
    await board.press()                                # the bench's press relay
    await board.console.expect("queued alarm")

The console is the board's serial output, kept in `console.log`, with the
emulated console's `output`, `clear()` and `expect()`. The REPL is mpremote's
transport: it stops the firmware (Ctrl-C), does its work, and a soft reboot
(Ctrl-D) runs main.py again; the console lets go of the port meanwhile. Press,
power and range go through the bench's relays (`SerialDut`); what the bench or a
real board cannot do skips the case with the reason, as `Dut` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from boards.emulated.console import BoardOutput
from firmware import gesture
from hwtest.bench import SerialDut
from msa.errors import MsaError

if TYPE_CHECKING:
    from mpremote.transport_serial import SerialTransport

T = TypeVar("T")
BAUDRATE = 115200
BOOT_TIMEOUT_S = 30.0
PORT_BACK_TIMEOUT_S = 10.0  # a native-USB board's port comes back after a power cut
CTRL_D = b"\x04"

# What only the emulated board has: a case reaching for it skips on a real board.

# Run on the board: empty data/ (counter, outbox, bonds, arming), a factory reset.
ERASE_DATA = """
import os
def _erase(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        inner = path + "/" + name
        if os.stat(inner)[0] & 0x4000:
            _erase(inner)
            os.rmdir(inner)
        else:
            os.remove(inner)
_erase("data")
"""


class SerialConsole(BoardOutput):
    """The board's serial output, logged, with the emulated console's expect()."""

    def __init__(self, port: str, log_path: Path, baudrate: int = BAUDRATE) -> None:
        super().__init__(log_path)
        self.port = port
        self.where = f"the board on {port}"
        self.baudrate = baudrate
        self.serial: Any = None
        self._log: Any = None

    @property
    def is_open(self) -> bool:
        return self.serial is not None

    def open(self) -> None:
        """Open the port (pyserial drops what arrived while it was closed)."""
        import serial

        if self.serial is not None:
            return
        if self._log is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 (closed in close)
        line = serial.Serial()
        line.port, line.baudrate, line.timeout = self.port, self.baudrate, 0
        line.rts = line.dtr = False  # an ESP32's auto-reset circuit: EN and IO0 left alone
        line.open()
        self.serial = line
        asyncio.get_running_loop().add_reader(line.fileno(), self._read)

    async def reopen(self, timeout: float = PORT_BACK_TIMEOUT_S) -> None:
        """Open the port again, waiting for it to come back (USB re-enumeration)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                self.open()
                return
            except OSError as error:
                if loop.time() > deadline:
                    raise MsaError(
                        f"the board's port {self.port} did not come back within {timeout:.0f} s "
                        f"({error}); check its USB cable and the power relay"
                    ) from None
            await asyncio.sleep(0.2)  # polling for a device node to appear

    def release(self) -> None:
        """Let go of the port (for mpremote, or while the power is cut); keep the log."""
        if self.serial is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.serial.fileno())
            with contextlib.suppress(OSError):
                self.serial.close()
            self.serial = None

    def close(self) -> None:
        self.release()
        if self._log is not None:
            self._log.close()
            self._log = None

    def write(self, data: bytes) -> None:
        assert self.serial is not None, "open the console first"
        self.serial.write(data)

    def _read(self) -> None:
        try:
            data = self.serial.read(4096)
        except (OSError, TypeError) as error:  # the port went away (power cut, unplugged)
            self._record(f"\n[msa: lost {self.port}: {error}]\n".encode())
            self.release()
            return
        if data:
            self._record(data)

    def _record(self, data: bytes) -> None:
        if self._log is not None:
            self._log.write(data)
        self._printed(data)


class SerialBoard:
    """A real button on `port` (a `boards.interface.Board`); `address` is its BLE
    identity address (the bench file's). It has none of the emulated board's extra
    capabilities: the cases that need one are skipped with the reason."""

    capabilities: frozenset[str] = frozenset()
    on_notify: Callable[[bytes], None] | None = None  # its radio is not seen from here

    def __init__(
        self, port: str, directory: Path, dut: SerialDut, address: str, baudrate: int = BAUDRATE
    ) -> None:
        self.port = port
        self.directory = directory
        self.dut = dut
        self.address = address
        self.console = SerialConsole(port, directory / "console.log", baudrate)
        self._provisioned_at = 0  # where in the log the provisioned firmware starts

    # -- the REPL ----------------------------------------------------------------------

    async def read_provisioning(self) -> dict[str, Any]:
        """device.json as the tech desk left it (device_id, key and settings)."""

        def read(transport: SerialTransport) -> bytes:
            try:
                return transport.fs_readfile("device.json")
            except OSError:  # mpremote's word for "no such file" on the board
                return b""

        # The firmware stays stopped: boot() is next, and reboots it.
        text = await self._repl(read, reboot=False)
        try:
            values = json.loads(text)
            device_id, key = int(values["device_id"]), str(values["key"])
            bytes.fromhex(key)
        except (ValueError, KeyError, TypeError):
            raise MsaError(
                f"the device.json of the board on {self.port} holds no device_id and key: "
                "provision it at the tech desk (msa backend provision --device-json FILE, "
                "then mpremote cp FILE :device.json)"
            ) from None
        return {**values, "device_id": device_id, "key": key}

    async def boot(self, settings: dict[str, Any]) -> None:
        """Write device.json, erase data/ (no counter, queue or bond left: a fresh
        button for a fresh phone), and boot the firmware on it."""
        data = json.dumps(settings).encode()

        def write(transport: SerialTransport) -> None:
            transport.fs_writefile("device.json", data)
            transport.exec(ERASE_DATA)

        self.console.release()
        self.console.clear()
        log = self.console.log_path
        self._provisioned_at = log.stat().st_size if log.exists() else 0
        await self._repl(write)
        await self.console.expect(
            f"msa: firmware .* device {settings['device_id']:08x}", BOOT_TIMEOUT_S
        )

    async def _repl(self, work: Callable[[SerialTransport], T], reboot: bool = True) -> T:
        """Stop the firmware, run `work` on the raw REPL, then soft-reboot into main.py."""
        from msa.desk import on_repl

        self.console.release()
        try:
            return await asyncio.to_thread(on_repl, self.port, work)
        finally:
            self.console.open()
            if reboot:
                self.console.write(CTRL_D)  # a soft reboot at the friendly REPL runs main.py

    async def arm_test_alarm(self, minutes: float = 15, until: float | None = None) -> bool:
        """As msa arm-test does it: over the REPL, then the firmware reboots (True)."""
        from msa.desk.arm import arm

        deadline = int(until if until is not None else time.time() + minutes * 60)
        self.console.clear()  # the start line to wait for is the next one
        if not await self._repl(lambda transport: arm(transport, self.port, deadline)):
            raise MsaError(f"the board on {self.port} is not provisioned: nothing was armed")
        await self.console.expect(r"msa: firmware .* device [0-9a-f]{8}", BOOT_TIMEOUT_S)
        return True

    # -- the bench's hand -----------------------------------------------------------

    async def press(self, hold_ms: int = 150) -> None:
        await self.dut.press(hold_ms)

    async def long_press(self, hold_ms: int = 2500) -> None:
        await self.dut.long_press(hold_ms)

    async def presses(self, count: int, hold_ms: int = 120, gap_ms: int = 250) -> None:
        for i in range(count):
            if i:
                await asyncio.sleep(gap_ms / 1000)  # the finger's rhythm: the act itself
            await self.dut.press(hold_ms)

    async def test_gesture(self) -> None:
        """The test gesture (firmware/gesture.py), as EmulatedBoard.test_gesture."""
        self.dut.bench.require("long_press")
        await asyncio.sleep((gesture.TEST_GAP_MS + 100) / 1000)  # a finger at rest
        await self.dut.long_press((gesture.TEST_HOLD_MS + gesture.TEST_HOLD_MAX_MS) // 2)
        await asyncio.sleep(0.4)
        await self.presses(gesture.TEST_TAPS, hold_ms=150, gap_ms=400)

    def hold_button(self) -> None:
        self.dut.bench.require("long_press")
        self.dut._set("press", True)

    def release_button(self) -> None:
        self.dut.bench.require("long_press")
        self.dut._set("press", False)

    def set_battery_mv(self, millivolts: int) -> None:
        self.dut.set_battery_mv(millivolts)

    def out_of_range(self) -> None:
        self.dut.bench.require("range")
        self.dut._set("range", True)

    def in_range(self) -> None:
        self.dut.bench.require("range")
        self.dut._set("range", False)

    async def power_cut(self) -> None:
        await self.dut.power_cut()
        self.console.release()  # a board powered over its USB port takes the port with it

    async def power_on(self) -> None:
        self.dut.bench.require("power")
        # A USB-UART bridge keeps its port through the cut: listen before the boot.
        # A native-USB board's port comes back only once its firmware runs.
        with contextlib.suppress(OSError):
            self.console.open()
        await self.dut.power_on()
        await self.console.reopen()

    # -- what the host can see of the button's queue -----------------------------------

    def frames_held(self, received: set[int]) -> int:
        return len(self.unacknowledged(received))

    def unacknowledged(self, received: set[int]) -> list[int]:
        """Counters the board said it queued ("msa: queued …") since boot() that
        the phone has not received: the host's view of the button's outbox (its flash
        is not readable while the firmware runs). A frame whose ACK is still on its
        way counts as delivered: the phone has it on disk."""
        with open(self.console.log_path, "rb") as log_file:
            log_file.seek(self._provisioned_at)
            log = log_file.read()
        queued = {int(n) for n in re.findall(rb"msa: queued \w+ (\d+)", log)}
        return sorted(queued - received)

    async def close(self) -> None:
        self.console.close()
        self.dut.close()


async def forget_os_bond(address: str, adapter: str | None = None) -> None:
    """Make BlueZ forget the button: the board's bond is erased by boot(), and
    BlueZ would otherwise encrypt with the old keys instead of pairing again."""
    from bleak import BleakClient

    options: dict[str, Any] = {"bluez": {"adapter": adapter}} if adapter else {}
    with contextlib.suppress(Exception):  # nothing to forget is fine
        await BleakClient(address, **options).unpair()


def port_missing(port: str) -> str | None:
    """Why `port` cannot be the board's, or None."""
    if port.startswith("/dev/") and not os.path.exists(port):
        return (
            f"no serial port {port}: plug the board in with a data USB cable and find its "
            "port with `mpremote devs`"
        )
    return None
