"""What the demo and the HIL suite need of a button: one `Board` protocol that the
emulated board (boards/emulated/emulator.py) and a real board on a serial port
(hwtest/serial_board.py) implement, as labgrid's drivers serve one resource.

What only some boards can do is a capability, named in `board.capabilities`; a
case that needs one asks for it (hwtest/bench.py `needs()`), and a board without it
skips the case with the reason in `CAPABILITIES`, never passes it silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

# capability -> what a board without it lacks, as a skipped case says it
CAPABILITIES = {
    "flash": "its flash is not a folder on this computer",
    "cpu": "its CPU is not a process on this computer (freeze, process, fault injection)",
    "air": "its radio is not on the emulated air (air address, RPA period, radio events)",
    "notify_seen": "nothing on this computer sees its radio notify (the ble_notify hop)",
    "chatter": "a relay cannot chatter at millisecond periods",
}


class BoardConsole(Protocol):
    """The board's serial output, as tests read it."""

    output: bytes

    def clear(self) -> None: ...

    async def expect(self, pattern: str | bytes, timeout: float = 10.0) -> re.Match[bytes]: ...


@runtime_checkable
class Board(Protocol):
    """A button as a bench drives it."""

    address: str  # its BLE identity address
    capabilities: frozenset[str]  # of CAPABILITIES
    # Called with each notification the board's radio sends, where it can tell.
    on_notify: Callable[[bytes], None] | None

    @property
    def console(self) -> BoardConsole | None: ...

    async def boot(self, settings: dict[str, Any]) -> None:
        """Provision it (device.json: id, key, settings; data/ erased) and boot the firmware."""

    async def read_provisioning(self) -> dict[str, Any]:
        """device.json as the tech desk left it."""

    async def arm_test_alarm(self, minutes: float = 15, until: float | None = None) -> bool:
        """What the tech desk does before the test call (msa arm-test): for `minutes`
        (or until the Unix time `until`) the test gesture sends a test alarm. True when
        the board rebooted for it, so that its phone links again."""

    async def press(self, hold_ms: int = 150) -> None: ...

    async def long_press(self, hold_ms: int = 2500) -> None: ...

    async def presses(self, count: int, hold_ms: int = 120, gap_ms: int = 250) -> None: ...

    async def test_gesture(self) -> None: ...

    def hold_button(self) -> None: ...

    def release_button(self) -> None: ...

    def set_battery_mv(self, millivolts: int) -> None: ...

    async def power_cut(self) -> None: ...

    async def power_on(self) -> None: ...

    def out_of_range(self) -> None: ...

    def in_range(self) -> None: ...

    def frames_held(self, received: set[int]) -> int:
        """How many frames the button still holds, the phone's `received` counters known."""

    async def close(self) -> None: ...
