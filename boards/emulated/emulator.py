"""An emulated button on the bench: the real firmware under the real MicroPython.

`EmulatedBoard` is what the demo, the tests and `msa board` drive. It owns:
  - the flash: a folder (the firmware image, device.json, data/);
  - the CPU: a `micropython` unix-port process, its heap limited to the real
    board's (-X heapsize), its terminal relayed to a pty (`serial_port`);
  - the hardware: button pin, battery ADC, watchdog and a Bumble radio on a
    `LocalLink` shared with the phone (boards/emulated/hardware.py).

    board = EmulatedBoard(Path("boards/.run/b1"), link)
    board.flash_firmware(); board.provision({...})
    await board.power_on()
    await board.press()
    await board.power_cut(); await board.power_on()

What holds a secret is its owner's alone (0600): identity.json (the radio's IRK),
device.json (the button's key), and whatever the firmware writes in data/ (its
bonds, its counter): the interpreter runs with umask 077.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import tempfile
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bumble.link import LocalLink

from boards import image
from boards.emulated import board as definition  # constants only: CPython reads them too
from boards.emulated.air import Air
from boards.emulated.console import Console, make_terminal
from boards.emulated.hardware import PWRON_RESET, Hardware
from boards.emulated.interpreter import micropython_path
from boards.emulated.radio import RPA_TIMEOUT_S
from boards.emulated.radio_events import RadioStats, total
from boards.interface import CAPABILITIES
from firmware import gesture
from msa import children, cleanup
from msa.private_files import write_private
from msa.waiting import cancelled, within

log = logging.getLogger(__name__)

ROM = Path(__file__).resolve().parent / "rom"
BUTTON_PIN = definition.BUTTON_PIN
# The firmware's budget is the board's HEAP_BYTES (an ESP32's). On a real board
# `bluetooth` and `machine` are C modules; here they are Python (rom/) and take
# heap of their own, so the interpreter gets that much more. The budget is
# conservative all the same: this 64-bit port's objects are up to twice the
# size of the ESP32's. (docs/firmware.md, "Heap")
HEAP_BYTES = definition.HEAP_BYTES
# ... and its flash's block accounting (rom/_flash.py), littlefs's C on a real board.
ROM_HEAP_ALLOWANCE = 32 * 1024
FLASH_BYTES = definition.FLASH_BYTES
FIRMWARE_FORMS = ("source", "mpy", "romfs")


def _littlefs() -> Any:
    """rom/_flash.py, the flash's block accounting, which CPython runs too."""
    spec = importlib.util.spec_from_file_location("msa_emulated_flash", ROM / "_flash.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


littlefs = _littlefs()


class EmulatedBoard:
    """The button on the emulated air (a `boards.interface.Board`, with everything)."""

    capabilities = frozenset(CAPABILITIES)

    def __init__(
        self,
        directory: Path,
        link: LocalLink,
        heap_bytes: int = HEAP_BYTES,
        rpa_timeout_s: float = RPA_TIMEOUT_S,
        flash_bytes: int = FLASH_BYTES,
    ) -> None:
        self.directory = directory
        self.flash = directory / "flash"
        self.romfs = directory / "romfs.img"  # the ROMFS partition, when the firmware is in one
        self.link = link
        self.heap_bytes = heap_bytes
        self.flash_blocks = flash_bytes // littlefs.BLOCK
        self.flash_faults: set[str] = set()  # flash paths whose reads fail (a worn block)
        self.flash.mkdir(parents=True, exist_ok=True)
        identity = self._identity()
        self.address: str = identity["address"]
        self.hardware = Hardware(
            link,
            self.address,
            bytes.fromhex(identity["unique_id"]),
            Path(f"/tmp/msa-board-{os.getpid()}-{id(self):x}.sock"),
        )
        self.hardware.radio_options = {
            "irk": bytes.fromhex(identity["irk"]),
            "rpa_timeout_s": rpa_timeout_s,
        }
        self.console: Console | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.stats_history: list[RadioStats] = []
        self._watcher: asyncio.Task[None] | None = None

    def _identity(self) -> dict[str, str]:
        """The chip's own identity (its eFuses): made once per board folder."""
        path = self.directory / "identity.json"
        if path.exists():
            identity = json.loads(path.read_text())
            if "irk" in identity:
                return identity
            identity["irk"] = secrets.token_bytes(16).hex()  # a folder from before privacy
            write_private(path, json.dumps(identity))
            return identity
        address = bytearray(secrets.token_bytes(6))
        address[0] |= 0xC0  # a random static address
        identity = {
            "address": ":".join(f"{b:02X}" for b in address),
            "unique_id": secrets.token_bytes(6).hex(),
            "irk": secrets.token_bytes(16).hex(),  # the radio's identity resolving key
        }
        write_private(path, json.dumps(identity))
        return identity

    # -- flash ----------------------------------------------------------------

    def flash_firmware(self, form: str = "source") -> list[str]:
        """The firmware image onto the board, in one of FIRMWARE_FORMS: its sources
        on the flash; the `.mpy` build real boards run (`msa firmware build`), which
        spares the heap the compiler's parse trees; or that build's libraries in the
        ROMFS partition (`romfs`), whose bytecode runs in place, as on a board with one."""
        if form not in FIRMWARE_FORMS:
            raise ValueError(f"firmware form {form!r}: one of {', '.join(FIRMWARE_FORMS)}")
        self.romfs.unlink(missing_ok=True)
        if form == "source":
            return image.write(self.flash, "emulated")
        from msa.firmware.build import ROMFS_IMAGE, ROMFS_TREE, build

        with tempfile.TemporaryDirectory(prefix="msa-build-") as folder:
            out = Path(folder) / "build"
            built = build("emulated", out)
            on_flash = built.files
            if form == "romfs":
                shutil.copyfile(out / ROMFS_IMAGE, self.romfs)
                shutil.rmtree(self.flash / ROMFS_TREE, ignore_errors=True)  # older copies
                on_flash = [f for f in on_flash if not f.path.startswith(ROMFS_TREE + "/")]
            for entry in on_flash:
                target = self.flash / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                for stale in (target.with_suffix(".py"), target.with_suffix(".mpy")):
                    stale.unlink(missing_ok=True)
                shutil.copyfile(out / entry.path, target)
            return [entry.path for entry in on_flash]

    @property
    def romfs_bytes(self) -> int:
        """The ROMFS partition's image, 0 without one."""
        return self.romfs.stat().st_size if self.romfs.exists() else 0

    async def boot(self, settings: dict[str, Any]) -> None:
        """The Board protocol's provisioning: the firmware image, device.json with no
        data/ left from before, and power."""
        self.flash_firmware()
        if (self.flash / "data").exists():
            self.erase_state()
        self.provision(settings)
        await self.power_on()

    async def read_provisioning(self) -> dict[str, Any]:
        return dict(json.loads((self.flash / "device.json").read_text()))

    def frames_held(self, received: set[int]) -> int:
        """The frames in the button's outbox (its flash is readable here)."""
        outbox = self.flash / "data" / "outbox"
        return len(list(outbox.iterdir())) if outbox.exists() else 0

    @property
    def on_notify(self) -> Callable[[bytes], None] | None:
        return self.hardware.on_notify

    @on_notify.setter
    def on_notify(self, handler: Callable[[bytes], None] | None) -> None:
        self.hardware.on_notify = handler

    def provision(self, settings: dict[str, Any]) -> None:
        write_private(self.flash / "device.json", json.dumps(settings))

    async def arm_test_alarm(self, minutes: float = 15, until: float | None = None) -> bool:
        """What the tech desk does before the test call: for `minutes`, the test
        gesture (`test_gesture()`) sends a test alarm; every other press stays an alarm.
        Written into the flash as the firmware runs: no reboot (False)."""
        deadline = int(until if until is not None else time.time() + minutes * 60)
        (self.flash / "data").mkdir(exist_ok=True)
        (self.flash / "data" / "test_armed").write_text(json.dumps({"until": deadline}))
        return False

    def free_blocks(self) -> int:
        """The flash's free blocks as the firmware's statvfs() counts them (rom/_flash.py)."""
        meta: dict[str, int] = {}
        data = 0
        for folder, folders, files in os.walk(self.flash):
            relative = Path(folder).relative_to(self.flash).as_posix()
            sizes = [(self.flash / folder / name).stat().st_size for name in files]
            meta["" if relative == "." else relative] = sum(
                littlefs.entry_bytes(name, 0, True) for name in folders
            ) + sum(littlefs.entry_bytes(n, s, False) for n, s in zip(files, sizes, strict=True))
            data += sum(littlefs.data_blocks(size) for size in sizes)
        return int(self.flash_blocks - littlefs.used_blocks(meta, data))

    def fill_flash(self, free_blocks: int = 0) -> None:
        """Fill the flash with other data (data/filler) until `free_blocks` are left,
        as littlefs counts them; with the board off (it counts its flash at boot)."""
        if self.powered:
            raise RuntimeError("fill the flash with the board off")
        filler = self.flash / "data" / "filler"
        filler.parent.mkdir(exist_ok=True)
        filler.unlink(missing_ok=True)
        blocks = self.free_blocks() - free_blocks
        for _ in range(4):  # the filler's own entry may take a new metadata pair
            filler.write_bytes(bytes(littlefs.capacity(max(blocks, 0))))
            off = self.free_blocks() - free_blocks
            if off == 0:
                break
            blocks += off
        if self.free_blocks() != free_blocks:
            raise RuntimeError(f"could not leave {free_blocks} blocks free: {self.free_blocks()}")

    def erase_state(self) -> None:
        """Forget counter, outbox and bonds (a factory reset of data/)."""
        for path in sorted((self.flash / "data").rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()

    # -- power -----------------------------------------------------------------

    @property
    def powered(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def power_on(self, raw_repl: bool = False, run_main: bool = True) -> None:
        if self.console is None:
            await self.hardware.start()
            self.console = Console(self.directory / "console.log")
            self.console.on_soft_reset = self._soft_reset
            self.console.on_interrupt = self._interrupt
        if self.powered:
            return
        master, slave = make_terminal()
        env = {
            "MICROPYPATH": f"{ROM}:.frozen::lib",
            "MSA_BOARD_SOCKET": str(self.hardware.socket_path),
            "MSA_FLASH_BLOCKS": str(self.flash_blocks),
            "MSA_FLASH_FAULTS": ",".join(sorted(self.flash_faults)),
            "HOME": str(self.directory),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        if raw_repl or not run_main:
            env["MSA_BOOT_RAW"] = "1"
        if self.romfs.exists():
            env["MSA_ROMFS"] = str(self.romfs)
        self.process = await asyncio.create_subprocess_exec(
            micropython_path(),
            "-X",
            f"heapsize={self.heap_bytes + ROM_HEAP_ALLOWANCE + self.romfs_bytes}",
            "-i",
            str(ROM / "_boot.py"),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=self.flash,
            env=env,
            start_new_session=True,
            preexec_fn=children.preexec(_start_mcu),
            umask=0o077,
        )
        os.close(slave)
        self.console.attach(master, raw_repl=raw_repl, runs_program=run_main and not raw_repl)
        self._watcher = asyncio.create_task(self._watch(self.process))

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        # machine.reset() asks the hardware to cut and restore the power.
        reset = asyncio.create_task(self.hardware.reset_requested.wait())
        exited = asyncio.create_task(process.wait())
        try:
            await asyncio.wait({reset, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
            reset.cancel()
        if reset.done() and not reset.cancelled() and process is self.process:
            self.hardware.reset_requested.clear()
            await self.power_cut(cause=self.hardware.reset_cause)
            await self.power_on()

    async def power_cut(self, cause: int = PWRON_RESET) -> None:
        """Take the battery out: the process dies wherever it is; the radio with it."""
        process, self.process = self.process, None
        self.hardware.reset_cause = cause  # what machine.reset_cause() says next boot
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        await process.wait()
        if self._watcher is not None and self._watcher is not asyncio.current_task():
            self._watcher.cancel()
        await self._radio_gone()
        if self.hardware.boot is None and self.console is not None:
            self.console.detach()

    async def _radio_gone(self) -> None:
        boot = self.hardware.boot
        if boot is not None:
            await within(self.hardware.halted.wait(), 5)
            self.stats_history.append(boot.radio.stats)

    async def _soft_reset(self, raw_repl: bool) -> None:
        await self.power_cut()
        await self.power_on(raw_repl=raw_repl)

    async def _interrupt(self) -> None:
        # Ctrl-C while main.py runs (boards/emulated/console.py says why this way).
        await self.power_cut()
        await self.power_on(run_main=False)

    async def close(self) -> None:
        """Power off and release the console and the hardware, whatever fails first."""
        await cleanup.release(
            self._stop_watching, self.power_cut, self._close_console, self.hardware.stop
        )

    async def _stop_watching(self) -> None:
        # A watchdog reset under way would power the board on again after the cut.
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not asyncio.current_task():
            await cancelled(watcher)

    def _close_console(self) -> None:
        if self.console is not None:
            self.console.close()
            self.console = None

    # -- the bench ------------------------------------------------------------------

    async def press(self, hold_ms: int = 150) -> None:
        """Press the button for hold_ms, timed on the board's clock (active low)."""
        await self.hardware.hold_pin(BUTTON_PIN, 0, hold_ms)

    async def long_press(self, hold_ms: int = 2500) -> None:
        await self.press(hold_ms)

    async def presses(self, count: int, hold_ms: int = 120, gap_ms: int = 250) -> None:
        """`count` presses of hold_ms, gap_ms apart (release to press)."""
        for i in range(count):
            if i:
                await asyncio.sleep(gap_ms / 1000)
            await self.press(hold_ms)

    async def test_gesture(self) -> None:
        """The tech desk's test gesture (firmware/gesture.py): after a rest, a hold
        of 3 to 6 s, then two taps; the test alarm follows its closing pause."""
        await asyncio.sleep((gesture.TEST_GAP_MS + 100) / 1000)  # a finger at rest
        await self.press(gesture.TEST_HOLD_MS + 500)  # timed on the board: no margin to eat
        await asyncio.sleep(0.4)
        await self.presses(gesture.TEST_TAPS, hold_ms=150, gap_ms=400)

    def hold_button(self) -> None:
        """Press and keep pressing (a button stuck, or squeezed in a bag)."""
        self.hardware.set_pin(BUTTON_PIN, 0)

    def release_button(self) -> None:
        self.hardware.set_pin(BUTTON_PIN, 1)

    async def chatter(self, edges: int = 200, period_ms: float = 2) -> None:
        """A broken or wet contact: the pin flips every period_ms, then rests released."""
        for i in range(edges):
            self.hardware.set_pin(BUTTON_PIN, i % 2)
            await asyncio.sleep(period_ms / 1000)
        self.hardware.set_pin(BUTTON_PIN, 1)

    def freeze(self) -> None:
        """Stop the CPU where it is (a hang): only the watchdog can bring it back."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def set_battery_mv(self, millivolts: int) -> None:
        self.hardware.set_battery_mv(millivolts)

    def out_of_range(self) -> None:
        """Carry the board out of every phone's range (its links time out), until in_range()."""
        self._air().out_of_range(self.address)

    def in_range(self) -> None:
        self._air().in_range(self.address)

    def _air(self) -> Air:
        if not isinstance(self.link, Air):
            raise RuntimeError("radio range needs the board on an Air (boards/emulated/air.py)")
        return self.link

    # -- the radio, as a power analyser would see it ------------------------------------

    @property
    def air_address(self) -> str | None:
        """The address the board advertises under now: an RPA once bonded (privacy)."""
        radio = self.hardware.radio
        address = radio.air_address if radio is not None else None
        return None if address is None else address.to_string(False)

    def set_rpa_timeout(self, seconds: float) -> None:
        """Shorten the radio's RPA rotation period (a controller setting, 15 min by default)."""
        self.hardware.radio_options["rpa_timeout_s"] = seconds
        if self.hardware.radio is not None:
            self.hardware.radio.set_rpa_timeout(seconds)

    def radio_events(self) -> dict[str, Any]:
        """Advertising events, connection events and notifications since the board was
        made, over every power-up (boards/emulated/radio_events.py says how they count)."""
        stats: list[RadioStats] = list(self.stats_history)
        if self.hardware.radio is not None and self.hardware.radio.stats not in stats:
            stats.append(self.hardware.radio.stats)
        return total([s.counters() for s in stats])

    @property
    def serial_port(self) -> str:
        if self.console is None:
            raise RuntimeError("power the board on first")
        return self.console.port


MCU_PRIORITY = -10  # nice(2) increment for the emulated chip's interpreter


def _start_mcu() -> None:
    # In the child, after setsid(): make the pty its controlling terminal so
    # that ^C from mpremote becomes SIGINT, as on a real board's REPL.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    # A real board has its own CPU: on a busy host the emulated one goes first, so
    # that its pin IRQs and timers keep the time they would on the chip (a starved
    # interpreter read the end of a 45 ms press before its debounce ran). Where the
    # host does not allow it (not root), it runs at the usual priority.
    with contextlib.suppress(OSError):
        os.nice(MCU_PRIORITY)
