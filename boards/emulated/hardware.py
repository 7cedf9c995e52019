"""The emulated board around its CPU: radio, pins, battery ADC, watchdog.

The MicroPython process connects once per power-up to a Unix socket (the wire is
described in rom/_emulink.py). Each connection is one `Boot`: its calls are served
in order, its radio is a fresh Bumble device, and when the process dies (a power
cut) the radio dies with it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bumble.core import UUID
from bumble.link import LocalLink

from boards.emulated.radio import Radio
from msa.waiting import cancelled, within

log = logging.getLogger(__name__)

EIO = 5
IRQ_TIMEOUT_S = 5.0
WATCHDOG_TICK_S = 0.1
RELEASE_GRACE_S = 10.0  # a held pin the board has not let go by then: its loop is stuck
PWRON_RESET, WDT_RESET, SOFT_RESET = 1, 3, 5  # machine.reset_cause()
PULL_UP = 1  # machine.Pin.PULL_UP


def encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"h": bytes(value).hex()}
    if isinstance(value, UUID):  # as the board keeps it: little-endian bytes
        return {"u": value.uuid_bytes.hex()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "h" in value:
            return bytes.fromhex(value["h"])
        if "u" in value:  # a bluetooth.UUID's little-endian bytes
            return bytes.fromhex(value["u"])
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


@dataclass
class Inputs:
    """What the bench sets on the board: pin levels and the battery voltage."""

    pins: dict[int, int] = field(default_factory=dict)
    battery_mv: int = 3900
    battery_divider: float = 2.0  # the board's resistor divider before the ADC
    # The ADC's own error at its pin, as a real one has; board.py's
    # BATTERY_GAIN / BATTERY_OFFSET_MV are the calibration that undoes it.
    adc_gain: float = 1.015
    adc_offset_uv: int = -12_000


TICKS_HALF = 1 << 29


def _ticks_diff(end: int, start: int) -> int:
    """MicroPython's time.ticks_diff: ticks wrap at 2**30."""
    return (end - start + TICKS_HALF) % (2 * TICKS_HALF) - TICKS_HALF


@dataclass
class Outputs:
    """What the firmware did with the board's outputs, for the stealth checks."""

    pin_writes: list[tuple[int, int]] = field(default_factory=list)
    watchdog_timeout_ms: int | None = None  # None: not running (a reset stops it)
    last_feed: float | None = None
    resets: int = 0  # machine.reset() calls
    # (host time, pin, pull, the board's ticks_us): each change of a pin's pull
    pulls: list[tuple[float, int, int | None, int]] = field(default_factory=list)
    watchdog_resets: int = 0


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readline()
    except ConnectionResetError:  # the process died mid-write: a power cut
        return b""


class Boot:
    """One power-up: the MicroPython process's connection to its hardware."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        hardware: Hardware,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.hardware = hardware
        self.radio = Radio(hardware.link, hardware.address, self, **hardware.radio_options)
        self.radio.on_notify = self._notified
        self._answers: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._calls: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = False

    # -- the firmware's calls --------------------------------------------------

    async def serve(self) -> None:
        worker = asyncio.create_task(self._serve_calls())
        try:
            while line := await _read_line(self.reader):
                message = json.loads(line)
                if "sync" in message:
                    future = self._answers.pop(message["sync"], None)
                    if future is not None and not future.done():
                        future.set_result(decode(message.get("ret")))
                else:
                    self._calls.put_nowait(message)
        finally:
            self.closed = True
            await cancelled(worker)
            for future in self._answers.values():
                future.cancel()
            await self.radio.power_off(cut=True)

    async def _serve_calls(self) -> None:
        # In order: a gatts_write must land before the notify that follows it.
        while True:
            message = await self._calls.get()
            op, args, call_id = message["op"], decode(message["args"]), message.get("id")
            try:
                result = await self._dispatch(op, args)
            except OSError as error:
                answer = {"re": call_id, "err": error.errno or EIO}
                log.debug("%s%r -> OSError %s", op, tuple(args), error)
            except Exception:
                log.exception("the emulated hardware failed on %s", op)
                answer = {"re": call_id, "err": EIO}
            else:
                answer = {"re": call_id, "ok": encode(result)}
            if call_id is not None:
                self._write(answer)

    async def _dispatch(self, op: str, args: list[Any]) -> Any:
        handler = getattr(self.radio, "op_" + op, None) or getattr(self.hardware, "op_" + op, None)
        if handler is None:
            raise OSError(EIO, f"the emulated board has no {op}")
        result = handler(*args)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    def _notified(self, data: bytes) -> None:
        # Whoever listens now, set before or after this power-up began.
        if self.hardware.on_notify is not None:
            self.hardware.on_notify(data)

    # -- IRQs to the firmware ------------------------------------------------------

    def send_irq(self, event: int, data: tuple[Any, ...]) -> None:
        self._write({"irq": event, "data": encode(data)})

    async def ask_irq(self, event: int, data: tuple[Any, ...]) -> Any:
        if self.closed:
            return None
        key = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._answers[key] = future
        self._write({"irq": event, "data": encode(data), "sync": key})
        try:
            return await within(future, IRQ_TIMEOUT_S)
        except TimeoutError:
            log.warning("the firmware did not answer IRQ %d within %.0f s", event, IRQ_TIMEOUT_S)
            return None
        finally:
            self._answers.pop(key, None)

    def send(self, message: dict[str, Any]) -> None:
        self._write(message)

    def _write(self, message: dict[str, Any]) -> None:
        if not self.closed and not self.writer.is_closing():
            self.writer.write(json.dumps(message).encode() + b"\n")


class Hardware:
    """The board's hardware, outliving each power-up's MicroPython process."""

    def __init__(
        self,
        link: LocalLink,
        address: str,
        unique_id: bytes,
        socket_path: Path,
        inputs: Inputs | None = None,
    ) -> None:
        self.link = link
        self.address = address
        self.unique_id = unique_id
        self.socket_path = socket_path
        self.inputs = inputs or Inputs()
        self.outputs = Outputs()
        self.boot: Boot | None = None
        self.booted = asyncio.Event()
        self.halted = asyncio.Event()  # no process connected: the radio is off
        self.halted.set()
        self.on_notify: Callable[[bytes], None] | None = None
        self.reset_cause = PWRON_RESET
        self.radio_options: dict[str, Any] = {}  # the radio chip's own (irk, rpa_timeout_s)
        self.reset_requested = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._dog: asyncio.Task[None] | None = None
        self._holds: dict[int, asyncio.Future[None]] = {}  # pin -> its release

    async def start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._on_boot, path=str(self.socket_path))
        self._dog = asyncio.create_task(self._watch_dog(), name="watchdog")

    async def stop(self) -> None:
        if self._dog is not None:
            await cancelled(self._dog)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.socket_path.unlink(missing_ok=True)

    async def _on_boot(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        boot = Boot(reader, writer, self)
        self.boot = boot
        self.booted.set()
        self.halted.clear()
        try:
            await boot.serve()
        finally:
            writer.close()
            self.outputs.watchdog_timeout_ms = None  # the CPU reset stops the watchdog
            if self.boot is boot:
                self.boot = None
                self.booted.clear()
                self.halted.set()
                for release in self._holds.values():  # a dead board holds nothing
                    if not release.done():
                        release.set_result(None)

    @property
    def radio(self) -> Radio | None:
        return self.boot.radio if self.boot else None

    # -- the bench's side ----------------------------------------------------------

    def set_pin(self, pin: int, value: int) -> None:
        self.inputs.pins[pin] = value
        if self.boot is not None:
            self.boot.send({"pin": pin, "value": value})

    async def hold_pin(self, pin: int, value: int, hold_ms: int) -> None:
        """Hold `pin` at `value` for `hold_ms`, then let it back, timed by the board
        itself (rom/machine.py): a busy host delays when a press starts, never how
        long it lasts, as with a finger. Returns once the board has let it go (or
        lost its power)."""
        restore = self.inputs.pins.get(pin, 1)
        self.inputs.pins[pin] = value
        try:
            if self.boot is None:  # nothing to time it: the bench's own clock
                await asyncio.sleep(hold_ms / 1000)
                return
            release = asyncio.get_running_loop().create_future()
            self._holds[pin] = release
            self.boot.send({"pin": pin, "value": value, "for_ms": hold_ms})
            try:
                await within(release, hold_ms / 1000 + RELEASE_GRACE_S)
            except TimeoutError:
                raise TimeoutError(
                    f"the board did not let pin {pin} go {RELEASE_GRACE_S:.0f} s after "
                    f"its {hold_ms} ms hold: its event loop is stuck"
                ) from None
        finally:
            self._holds.pop(pin, None)
            self.inputs.pins[pin] = restore

    def op_pin_released(self, pin: int) -> None:
        release = self._holds.get(pin)
        if release is not None and not release.done():
            release.set_result(None)

    def set_battery_mv(self, millivolts: int) -> None:
        self.inputs.battery_mv = millivolts
        if self.boot is not None:
            self.boot.send({"adc": "battery", "uv": self._battery_uv()})

    def _battery_uv(self) -> int:
        inputs = self.inputs
        at_pin = inputs.battery_mv * 1000 / inputs.battery_divider
        return max(0, round(at_pin * inputs.adc_gain + inputs.adc_offset_uv))

    def inject_fault(self) -> None:
        """Make the firmware's next read of a pin raise: a crash in the firmware's task."""
        if self.boot is not None:
            self.boot.send({"fault": "pin"})

    # -- the watchdog: a hardware timer, outside the CPU ----------------------------

    async def _watch_dog(self) -> None:
        while True:
            await asyncio.sleep(WATCHDOG_TICK_S)
            timeout, fed = self.outputs.watchdog_timeout_ms, self.outputs.last_feed
            if timeout is None or fed is None or self.boot is None:
                continue
            if time.monotonic() - fed > timeout / 1000:
                log.info("the watchdog was not fed for %d ms: reset", timeout)
                self.outputs.watchdog_timeout_ms = None
                self.outputs.watchdog_resets += 1
                self.reset_cause = WDT_RESET
                self.reset_requested.set()

    # -- the firmware's side (ops from rom/machine.py) --------------------------------

    def op_pin_init(self, pin: int, mode: int, pull: int, value: int | None) -> int:
        if value is not None:
            self.op_pin_write(pin, value)
        # An input with a pull-up reads high until the bench pulls it down.
        return self.inputs.pins.setdefault(pin, 1)

    def op_pin_pull(self, pin: int, pull: int | None, board_us: int) -> None:
        self.outputs.pulls.append((time.monotonic(), pin, pull, board_us))

    def pull_up_share(self, pin: int, since: float) -> float:
        """The share of the time that `pin`'s pull-up was on (it draws current), from
        its first change after `since` (host time) to its last, on the board's clock:
        a host slow to read the board's messages does not stretch it."""
        changes = [(us, pull) for at, p, pull, us in self.outputs.pulls if p == pin and at > since]
        if len(changes) < 2:
            raise ValueError(f"pin {pin}'s pull changed {len(changes)} times since then")
        on = sum(
            _ticks_diff(end, start)
            for (start, pull), (end, _) in itertools.pairwise(changes)
            if pull == PULL_UP
        )
        return on / max(_ticks_diff(changes[-1][0], changes[0][0]), 1)

    def op_pin_write(self, pin: int, value: int) -> None:
        self.outputs.pin_writes.append((pin, int(value)))

    def op_adc_init(self, pin: int) -> int:
        return self._battery_uv()

    def op_wdt_start(self, timeout_ms: int) -> None:
        self.outputs.watchdog_timeout_ms = timeout_ms
        self.outputs.last_feed = time.monotonic()

    def op_wdt_feed(self) -> None:
        self.outputs.last_feed = time.monotonic()

    def op_reset(self) -> None:
        self.outputs.resets += 1
        self.reset_cause = SOFT_RESET  # as the ESP32 port reports machine.reset()
        self.reset_requested.set()

    def op_reset_cause(self) -> int:
        return self.reset_cause

    def op_unique_id(self) -> bytes:
        return self.unique_id
