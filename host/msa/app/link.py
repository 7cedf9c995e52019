"""The phone's BLE link to its button: one interface, a backend per BLE stack.

    link = open_link("bumble:local", address, data_dir, local_link=air)   # emulated board
    link = open_link("bumble:tcp-client:127.0.0.1:9000", address, data_dir)
    link = open_link("bleak", address, data_dir)                        # a real board

`bumble:` takes any Bumble transport (or `local`: a LocalLink in this process);
`bleak` uses the operating system's Bluetooth stack (BlueZ on Linux).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from boards import board_constants
from msa.errors import MsaError, UsageError

if TYPE_CHECKING:
    from bumble.link import LocalLink

FrameHandler = Callable[[bytes], None]
PREFERRED_MTU = 247


# Device Information Service (Bluetooth SIG assigned numbers): what the button runs.
DEVICE_INFORMATION_UUID = 0x180A
FIRMWARE_REVISION_UUID = 0x2A26
MODEL_NUMBER_UUID = 0x2A24


def sig_uuid(short: int) -> str:
    """A 16-bit SIG UUID in its 128-bit form, as bleak names characteristics."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True)
class DeviceInfo:
    """The button's Device Information: readable by the bonded phone alone."""

    firmware_revision: str
    model_number: str


@dataclass(frozen=True)
class LinkParameters:
    """The connection parameters the app asks for once the link is up (the
    board's provisioned ones: boards/<board>/board.py)."""

    interval_ms: float
    latency: int
    timeout_ms: float = 4000.0

    @classmethod
    def of_board(cls, board: str) -> LinkParameters:
        """What the 112 app asks of a button of this board (its provisioned ones)."""
        c = board_constants(board)
        return cls(c["CONN_INTERVAL_MS"], c["CONN_LATENCY"], c["SUPERVISION_TIMEOUT_MS"])


class LinkError(MsaError):
    """The BLE link failed: not found, not bonded, dropped, refused."""


class ButtonLink(ABC):
    """A GATT central connected to one button (protocol/SPEC.md §6)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.mtu = 23
        # Asked for after subscribing; None keeps the link's first ones. A phone's
        # OS may not let an app choose (bleak): there it is only a wish.
        self.parameters: LinkParameters | None = None
        self.disconnected = asyncio.Event()
        self.disconnected.set()

    @property
    def connected(self) -> bool:
        return not self.disconnected.is_set()

    @abstractmethod
    async def connect(self, timeout: float = 10.0) -> None:
        """Connect (the button advertises while it has no phone)."""

    @abstractmethod
    async def pair(self) -> None:
        """Bond with the button (LE Secure Connections); once, at the tech desk."""

    @abstractmethod
    async def secure(self) -> None:
        """Encrypt the link with the existing bond; LinkError when there is none."""

    @abstractmethod
    async def subscribe(self, on_frame: FrameHandler) -> None:
        """Exchange the MTU, find the Frame characteristic, receive its notifications."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Write a control frame (ACK, TIME, RECEIPT), with response."""

    @abstractmethod
    async def read(self) -> bytes:
        """Read the Frame characteristic: the oldest unacknowledged frame."""

    @abstractmethod
    async def device_info(self) -> DeviceInfo:
        """Read the firmware version and board (on the encrypted, bonded link)."""

    @abstractmethod
    async def disconnect(self) -> None: ...

    async def close(self) -> None:
        await self.disconnect()


def open_link(
    spec: str,
    address: str,
    data_dir: Path,
    local_link: LocalLink | None = None,
) -> ButtonLink:
    """Make the link named by `spec` (see the module docstring); connects lazily."""
    scheme, _, rest = spec.partition(":")
    if scheme == "bumble":
        from msa.app.bumble_link import BumbleLink

        if rest in ("", "local"):
            if local_link is None:
                raise UsageError("bumble:local needs the emulated board in the same process")
            return BumbleLink(address, data_dir, local_link=local_link)
        return BumbleLink(address, data_dir, transport=rest)
    if scheme == "bleak":
        from msa.app.bleak_link import BleakLink

        return BleakLink(address, adapter=rest or None)
    raise UsageError(f"unknown BLE link {spec!r}: use bumble:local, bumble:<transport> or bleak")
