"""The phone's BLE link on Bumble: a virtual controller on a LocalLink (the
emulated board in this process), or any Bumble HCI transport."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bumble import hci
from bumble.core import UUID
from bumble.device import Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.host import Host
from bumble.keys import JsonKeyStore
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import Transport, open_transport
from bumble.transport.common import AsyncPipeSink

from boards.emulated.controller import RadioController
from msa.app.link import (
    DEVICE_INFORMATION_UUID,
    FIRMWARE_REVISION_UUID,
    MODEL_NUMBER_UUID,
    PREFERRED_MTU,
    ButtonLink,
    DeviceInfo,
    FrameHandler,
    LinkError,
)
from msa.private_files import write_private
from protocol import gatt

if TYPE_CHECKING:
    from bumble.link import LocalLink

log = logging.getLogger(__name__)

DISCONNECT_TIMEOUT_S = 5.0


class PrivateJsonKeyStore(JsonKeyStore):
    """Bumble's JSON key store, its file (the bonds' keys) its owner's alone (0600)
    from the first byte; Bumble's own `save` creates it with the process's umask."""

    async def save(self, db: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        write_private(self.filename, json.dumps(db, sort_keys=True, indent=4))


@contextlib.contextmanager
def failing_as_link_error(what: str) -> Iterator[None]:
    """Turn whatever a Bumble request raises into LinkError. When the link drops,
    Bumble cancels the pending ATT request's future: that CancelledError is the
    link's failure, not our task being cancelled, and must not end the task."""
    try:
        yield
    except LinkError:
        raise
    except asyncio.CancelledError as error:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise LinkError(f"{what}: the link dropped") from error
    except Exception as error:  # Bumble raises core.TimeoutError, ATT and HCI errors
        raise LinkError(f"{what}: {error!r}") from error


def phone_address(data_dir: Path) -> str:
    """The phone's random static address, made once per data folder."""
    path = data_dir / "address"
    if not path.exists():
        address = bytearray(secrets.token_bytes(6))
        address[0] |= 0xC0
        path.write_text(":".join(f"{b:02X}" for b in address))
    return path.read_text().strip()


class BumbleLink(ButtonLink):
    def __init__(
        self,
        address: str,
        data_dir: Path,
        local_link: LocalLink | None = None,
        transport: str | None = None,
    ) -> None:
        super().__init__(address)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._local_link = local_link
        self._transport_spec = transport
        self._transport: Transport | None = None
        self.device: Device | None = None
        self.connection: Connection | None = None
        self.characteristic: CharacteristicProxy[bytes] | None = None

    async def _power_on(self) -> Device:
        if self.device is not None:
            return self.device
        try:
            self.device = await self._start()
        except Exception as error:  # the HCI transport refused, the controller did not answer
            await self.close()
            raise LinkError(f"this phone's Bluetooth did not start: {error!r}") from error
        return self.device

    async def _start(self) -> Device:
        own = hci.Address(phone_address(self.data_dir), hci.Address.RANDOM_DEVICE_ADDRESS)
        if self._transport_spec is not None:
            self._transport = await open_transport(self._transport_spec)
            device = Device.with_hci("phone", own, self._transport.source, self._transport.sink)
        else:
            controller = RadioController("phone", link=self._local_link)
            device = Device(
                name="phone", address=own, host=Host(controller, AsyncPipeSink(controller))
            )
        device.keystore = PrivateJsonKeyStore("phone", str(self.data_dir / "bonds.json"))
        device.pairing_config_factory = lambda _connection: PairingConfig(
            sc=True,
            mitm=False,
            bonding=True,
            delegate=PairingDelegate(PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
        )
        await device.power_on()
        return device

    async def connect(self, timeout: float = 10.0) -> None:
        device = await self._power_on()
        target = hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout(timeout):
                target = await self._on_air(device, target)
            # One budget for both: the caller's own time-out must not cut a
            # connection attempt short (Bumble would leave it pending).
            left = max(deadline - loop.time(), 1.0)
            connection = await device.connect(target, timeout=left)
        except TimeoutError:
            raise LinkError(
                f"the button {self.address} is not on the air (no advertisement resolved "
                f"to it in {timeout:.0f} s): is it in range and powered?"
            ) from None
        except Exception as error:  # Bumble raises core.TimeoutError and HCI errors
            raise LinkError(f"could not connect to the button {self.address}: {error}") from error
        self.connection = connection
        self.disconnected.clear()
        connection.on(
            Connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(connection, reason),
        )

    @staticmethod
    async def _on_air(device: Device, identity: hci.Address) -> hci.Address:
        """The address the button advertises under now. A bonded button uses
        resolvable private addresses: scan for the one our bond's IRK resolves to
        its identity address. Before bonding it advertises under its identity."""
        resolver = device.address_resolver
        if resolver is None or not resolver.can_resolve_to(identity):
            return identity
        return await device.find_peer_by_identity_address(identity)

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        log.info("link to %s dropped (reason 0x%02x)", self.address, reason)
        if connection is not self.connection:
            return  # an earlier link, ending late
        self.connection = None
        self.characteristic = None
        self.disconnected.set()

    async def pair(self) -> None:
        connection = self._connection()
        with failing_as_link_error("pairing with the button failed"):
            await connection.pair()

    async def secure(self) -> None:
        connection = self._connection()
        assert self.device is not None and self.device.keystore is not None
        if await self.device.keystore.get(str(connection.peer_address)) is None:
            raise LinkError(
                f"this phone has no bond with the button {self.address}: "
                "pair them at the tech desk first (msa app pair)"
            )
        try:
            with failing_as_link_error("encrypting the link"):
                await connection.encrypt()
        except LinkError as error:
            if self.connection is None:
                raise LinkError("the button went away while the link was encrypted") from error
            raise LinkError(
                f"the button refused our bond ({error}): it may have been wiped; re-pair it"
            ) from error

    async def subscribe(self, on_frame: FrameHandler) -> None:
        connection = self._connection()
        peer = Peer(connection)
        with failing_as_link_error("subscribing to the button"):
            self.mtu = await peer.request_mtu(PREFERRED_MTU)
            services = await peer.discover_service(UUID(gatt.SERVICE_UUID))
            if not services:
                raise LinkError(f"{self.address} has no msa service: is it an msa button?")
            found = await peer.discover_characteristics([UUID(gatt.FRAME_UUID)], services[0])
            if not found:
                raise LinkError(f"{self.address} has no Frame characteristic")
            self.characteristic = found[0]
            await peer.subscribe(self.characteristic, lambda value: on_frame(bytes(value)))
        if self.parameters is not None:
            p = self.parameters
            with failing_as_link_error("asking for the connection parameters"):
                await connection.update_parameters(
                    p.interval_ms, p.interval_ms, p.latency, p.timeout_ms
                )

    async def write(self, data: bytes) -> None:
        if self.characteristic is None:
            raise LinkError("not subscribed to the button")
        with failing_as_link_error("write to the button failed"):
            await self.characteristic.write_value(data, with_response=True)

    async def read(self) -> bytes:
        if self.characteristic is None:
            raise LinkError("not subscribed to the button")
        with failing_as_link_error("read from the button failed"):
            return bytes(await self.characteristic.read_value())

    async def device_info(self) -> DeviceInfo:
        connection = self._connection()
        peer = Peer(connection)
        with failing_as_link_error("reading the button's device information"):
            services = await peer.discover_service(UUID.from_16_bits(DEVICE_INFORMATION_UUID))
            if not services:
                raise LinkError(f"{self.address} has no Device Information service")
            values = {}
            for short in (FIRMWARE_REVISION_UUID, MODEL_NUMBER_UUID):
                found = await peer.discover_characteristics([UUID.from_16_bits(short)], services[0])
                if not found:
                    raise LinkError(f"{self.address} has no characteristic 0x{short:04X}")
                values[short] = bytes(await found[0].read_value()).decode()
        return DeviceInfo(values[FIRMWARE_REVISION_UUID], values[MODEL_NUMBER_UUID])

    async def disconnect(self) -> None:
        if self.connection is None:
            return
        try:
            # Bumble waits for the controller's event, which a link the
            # controller has already forgotten never sends.
            async with asyncio.timeout(DISCONNECT_TIMEOUT_S):
                await self.connection.disconnect()
                await self.disconnected.wait()
        except Exception:  # already gone
            log.debug("disconnect failed", exc_info=True)
        if self.connection is not None:  # no event came: forget the link ourselves
            self._on_disconnection(
                self.connection, hci.HCI_CONNECTION_TERMINATED_BY_LOCAL_HOST_ERROR
            )

    async def close(self) -> None:
        await self.disconnect()
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        self.device = None

    def bonded_peers(self) -> list[str]:
        path = self.data_dir / "bonds.json"
        if not path.exists():
            return []
        return sorted(json.loads(path.read_text()).get("phone", {}))

    def _connection(self) -> Connection:
        if self.connection is None:
            raise LinkError(f"not connected to the button {self.address}")
        return self.connection
