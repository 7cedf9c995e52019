"""The phone's BLE link on bleak: the operating system's Bluetooth stack, for a
real board on a QA bench (BlueZ on Linux, also macOS and Windows)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bleak import BleakClient
from bleak.exc import BleakError

from msa.app.link import (
    FIRMWARE_REVISION_UUID,
    MODEL_NUMBER_UUID,
    ButtonLink,
    DeviceInfo,
    FrameHandler,
    LinkError,
    sig_uuid,
)
from protocol import frame, gatt

log = logging.getLogger(__name__)

ClientFactory = Callable[..., Any]  # BleakClient, or a stand-in with its methods


class BleakLink(ButtonLink):
    def __init__(
        self,
        address: str,
        adapter: str | None = None,
        client_factory: ClientFactory = BleakClient,
    ) -> None:
        super().__init__(address)
        self.adapter = adapter
        self._factory = client_factory
        self.client: Any = None

    async def connect(self, timeout: float = 10.0) -> None:
        options: dict[str, Any] = {"timeout": timeout}
        if self.adapter:
            options["bluez"] = {"adapter": self.adapter}
        self.client = self._factory(
            self.address, disconnected_callback=self._on_disconnection, **options
        )
        try:
            await self.client.connect()
        except (BleakError, TimeoutError, OSError) as error:
            raise LinkError(
                f"could not connect to the button {self.address} ({error}); is it advertising, "
                "and is the Bluetooth adapter on (bluetoothctl show)?"
            ) from error
        self.disconnected.clear()

    def _on_disconnection(self, _client: Any) -> None:
        log.info("link to %s dropped", self.address)
        self.disconnected.set()

    async def pair(self) -> None:
        try:
            await self._client().pair()
        except BleakError as error:
            raise LinkError(f"pairing with the button failed: {error}") from error

    async def secure(self) -> None:
        # The OS stack encrypts with its stored bond as soon as an encrypted
        # characteristic is used; a missing bond shows up as an error then.
        self._client()

    async def subscribe(self, on_frame: FrameHandler) -> None:
        client = self._client()
        self.mtu = client.mtu_size
        if self.mtu < frame.MIN_ATT_MTU:
            log.warning("ATT MTU %d is below %d: frames must be read", self.mtu, frame.MIN_ATT_MTU)
        characteristic = client.services.get_characteristic(gatt.FRAME_UUID)
        if characteristic is None:
            raise LinkError(f"{self.address} has no msa Frame characteristic")
        try:
            await client.start_notify(characteristic, lambda _c, data: on_frame(bytes(data)))
        except BleakError as error:
            raise LinkError(f"could not subscribe ({error}): is the phone bonded?") from error

    async def write(self, data: bytes) -> None:
        try:
            await self._client().write_gatt_char(gatt.FRAME_UUID, data, response=True)
        except BleakError as error:
            raise LinkError(f"write to the button failed: {error}") from error

    async def read(self) -> bytes:
        try:
            return bytes(await self._client().read_gatt_char(gatt.FRAME_UUID))
        except BleakError as error:
            raise LinkError(f"read from the button failed: {error}") from error

    async def device_info(self) -> DeviceInfo:
        # The OS stack encrypts with its bond on the first encrypted read.
        client = self._client()
        values = {}
        for short in (FIRMWARE_REVISION_UUID, MODEL_NUMBER_UUID):
            try:
                values[short] = bytes(await client.read_gatt_char(sig_uuid(short))).decode()
            except BleakError as error:
                raise LinkError(
                    f"could not read the button's device information ({error}): "
                    "is this phone the bonded one?"
                ) from error
        return DeviceInfo(values[FIRMWARE_REVISION_UUID], values[MODEL_NUMBER_UUID])

    async def disconnect(self) -> None:
        if self.client is not None and self.client.is_connected:
            await self.client.disconnect()

    def _client(self) -> Any:
        if self.client is None or not self.client.is_connected:
            raise LinkError(f"not connected to the button {self.address}")
        return self.client
