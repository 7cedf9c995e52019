"""The bench: what it can do to the board under test, and the device-under-test facade.

A test drives the board through `Dut` (press, long press, battery voltage, power,
radio range). Each act needs a capability of the bench; a bench that lacks it
skips the test with the reason, never passes it silently:

    await dut.power_cut()   # on a bench without a power relay:
                            # SKIPPED bench cannot cut power: no [power] relay in bench.toml

The emulated board can do everything. A serial bench declares what it has in a
TOML file (`pytest hwtest --target serial:/dev/ttyUSB0 --bench bench.toml`):

    [press]                    # a relay across the button's contacts
    relay = "/dev/ttyUSB1"     # a USB-serial adapter whose RTS/DTR drive the relays
    line = "rts"               # active while the button is held
    [power]                    # a relay in the battery lead
    relay = "/dev/ttyUSB1"
    line = "dtr"               # active while the power is cut
    [range]                    # an RF switch to an attenuator (or a shielded box's door)
    relay = "/dev/ttyUSB2"
    line = "rts"               # active while the board is out of the phone's range
    [board]                    # the button itself, for the whole chain (`stack`)
    address = "AA:BB:CC:DD:EE:FF"  # its BLE identity address

docs/qa.md has the wiring.
"""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from boards.emulated.emulator import EmulatedBoard
from boards.interface import CAPABILITIES, Board

# capability -> what the bench must be able to do, as the skip reason says it
ACTS = {
    "press": "press the button",
    "long_press": "hold the button down",
    "battery": "set the battery voltage",
    "power": "cut power",
    "range": "take the board out of the phone's radio range",
}
RELAYED = ("press", "power", "range")  # what a relay line can do on a serial bench
LINES = ("rts", "dtr")
LONG_PRESS_MS = 3000


@dataclass(frozen=True)
class Target:
    kind: str  # "emulated" | "serial"
    port: str | None
    ble: str  # "bumble" | "bleak"
    ports: tuple[str, ...] = ()  # every board's, for the cases with two (serial:P1,P2)

    def __post_init__(self) -> None:
        if not self.ports and self.port is not None:
            object.__setattr__(self, "ports", (self.port,))

    @classmethod
    def parse(cls, spec: str, ble: str) -> Target:
        kind, _, given = spec.partition(":")
        ports = tuple(given.split(",")) if given else ()
        if kind not in ("emulated", "serial") or (kind == "serial") != all(ports or [""]):
            raise pytest.UsageError(
                f"--target {spec!r}: use emulated, serial:/dev/ttyUSB0, or for the "
                "two-board cases serial:/dev/ttyUSB0,/dev/ttyUSB1"
            )
        if ble.partition(":")[0] not in ("bumble", "bleak"):
            raise pytest.UsageError(
                f"--ble {ble!r}: use bumble, bumble:TRANSPORT (usb:0), bleak or bleak:ADAPTER"
            )
        return cls(kind, ports[0] if ports else None, ble, ports)

    def link(self) -> str:
        """The phone's link for open_link(); skips when a real board cannot be reached so."""
        if self.kind == "emulated":
            return "bumble:local"
        if self.ble == "bumble":
            pytest.skip(
                "--ble bumble on a real board needs the Bumble HCI transport of a "
                "Bluetooth controller: --ble bumble:usb:0 (a USB dongle), or --ble bleak"
            )
        return self.ble


@dataclass(frozen=True)
class Relay:
    """One control line of a USB-serial adapter, wired to a relay."""

    port: str
    line: str  # "rts" | "dtr"


@dataclass
class Bench:
    """What this bench can do to the board: capability -> how, or why not."""

    target: Target
    can: dict[str, str] = field(default_factory=dict)
    cannot: dict[str, str] = field(default_factory=dict)
    relays: dict[str, Relay] = field(default_factory=dict)
    board: dict[str, Any] = field(default_factory=dict)  # the bench file's [board]

    @classmethod
    def emulated(cls, target: Target) -> Bench:
        return cls(target, can={name: "the emulated board" for name in ACTS})

    @classmethod
    def serial(cls, target: Target, config: Path | None) -> Bench:
        settings: dict[str, Any] = {}
        if config is not None:
            try:
                settings = tomllib.loads(config.read_text())
            except (OSError, tomllib.TOMLDecodeError) as error:
                raise pytest.UsageError(f"--bench {config}: {error}") from None
        unknown = set(settings) - set(RELAYED) - {"board"}
        if unknown:
            raise pytest.UsageError(
                f"--bench {config}: unknown section(s) {sorted(unknown)}; "
                f"a bench can relay {', '.join(RELAYED)} and name its [board] (docs/qa.md)"
            )
        board = settings.get("board", {})
        if not isinstance(board, dict) or set(board) - {"address", "baudrate"}:
            raise pytest.UsageError(
                f'--bench {config}: [board] takes address = "AA:BB:CC:DD:EE:FF" '
                "(its BLE identity address) and baudrate = 115200"
            )
        bench = cls(target, board=board)
        for name in RELAYED:
            section = settings.get(name)
            if section is None:
                where = config or "a bench file (--bench)"
                bench.cannot[name] = f"no [{name}] relay in {where}"
                continue
            relay = Relay(str(section.get("relay", "")), str(section.get("line", "rts")).lower())
            if not relay.port or relay.line not in LINES:
                raise pytest.UsageError(
                    f"--bench {config}: [{name}] needs relay = PORT and line = rts or dtr"
                )
            bench.relays[name] = relay
            bench.can[name] = f"relay on {relay.line.upper()} of {relay.port}"
        if "press" in bench.can:
            bench.can["long_press"] = bench.can["press"]
        else:
            bench.cannot["long_press"] = bench.cannot["press"]
        bench.cannot["battery"] = (
            "msa drives no programmable supply yet; set the voltage by hand and run "
            "the battery cases on their own"
        )
        return bench

    def require(self, capability: str) -> None:
        """Skip the running test, with the reason, if the bench cannot do this."""
        if capability not in self.can:
            pytest.skip(f"bench cannot {ACTS[capability]}: {self.cannot[capability]}")


class Dut:
    """The device under test, as the bench can handle it."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench

    async def press(self, hold_ms: int = 150) -> None:
        self.bench.require("press")
        await self._hold(hold_ms)

    async def long_press(self, hold_ms: int = LONG_PRESS_MS) -> None:
        self.bench.require("long_press")
        await self._hold(hold_ms)

    def set_battery_mv(self, millivolts: int) -> None:
        self.bench.require("battery")
        self._battery(millivolts)

    async def power_cut(self) -> None:
        self.bench.require("power")
        await self._power(False)

    async def power_on(self) -> None:
        self.bench.require("power")
        await self._power(True)

    async def out_of_range(self) -> None:
        self.bench.require("range")
        await self._range(False)

    async def in_range(self) -> None:
        self.bench.require("range")
        await self._range(True)

    # -- how: one subclass per kind of bench ------------------------------------

    async def _hold(self, hold_ms: int) -> None:
        raise NotImplementedError

    def _battery(self, millivolts: int) -> None:
        raise NotImplementedError

    async def _power(self, on: bool) -> None:
        raise NotImplementedError

    async def _range(self, reachable: bool) -> None:
        raise NotImplementedError


class EmulatedDut(Dut):
    """The emulated board: every capability, through its bench hooks."""

    def __init__(self, bench: Bench, board: EmulatedBoard) -> None:
        super().__init__(bench)
        self.board = board

    async def _hold(self, hold_ms: int) -> None:
        await self.board.press(hold_ms)

    def _battery(self, millivolts: int) -> None:
        self.board.set_battery_mv(millivolts)

    async def _power(self, on: bool) -> None:
        await (self.board.power_on() if on else self.board.power_cut())

    async def _range(self, reachable: bool) -> None:
        self.board.in_range() if reachable else self.board.out_of_range()


class SerialDut(Dut):
    """A real board on a serial bench: what its relays can do."""

    def __init__(self, bench: Bench) -> None:
        super().__init__(bench)
        self._lines: dict[str, Any] = {}  # port -> pyserial Serial

    def _set(self, capability: str, active: bool) -> None:
        relay = self.bench.relays[capability]
        serial_line = self._lines.get(relay.port)
        if serial_line is None:
            import serial

            serial_line = serial.Serial()
            serial_line.port = relay.port
            serial_line.rts = serial_line.dtr = False  # no relay pulled while opening
            serial_line.open()
            self._lines[relay.port] = serial_line
        setattr(serial_line, relay.line, active)

    async def _hold(self, hold_ms: int) -> None:
        self._set("press", True)
        try:
            await asyncio.sleep(hold_ms / 1000)  # the finger's hold: the act itself
        finally:
            self._set("press", False)

    async def _power(self, on: bool) -> None:
        self._set("power", not on)

    async def _range(self, reachable: bool) -> None:
        self._set("range", not reachable)

    def close(self) -> None:
        for serial_line in self._lines.values():
            serial_line.rts = serial_line.dtr = False
            serial_line.close()
        self._lines.clear()


def needs(board: Board | None, capability: str) -> EmulatedBoard:
    """The board of a case that needs `capability` (boards/interface.py), which only
    the emulated board has today; a board without it skips the case with the reason."""
    assert board is not None, "the stack has no board yet"
    if capability not in board.capabilities:
        pytest.skip(f"the board {board.address} has no {capability}: {CAPABILITIES[capability]}")
    return cast(EmulatedBoard, board)
