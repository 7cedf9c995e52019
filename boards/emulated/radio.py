"""The emulated board's BLE radio: a Bumble device that plays NimBLE.

The firmware's `bluetooth` calls (boards/emulated/rom/bluetooth.py) arrive here as
`op_*` methods; Bumble's events go back to the firmware as MicroPython IRQs with
the port's numbers and tuple shapes. Bonding keys are not kept here: like NimBLE
under MicroPython, the radio asks the firmware for them (_IRQ_GET_SECRET /
_IRQ_SET_SECRET), so they live in the board's flash and survive a power cut.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from bumble import hci, smp
from bumble.att import ATT_Error, Attribute, AttributeValue
from bumble.controller import Controller
from bumble.core import UUID
from bumble.device import AdvertisingType, Connection, Device, DeviceConfiguration
from bumble.gatt import (
    GATT_DEVICE_NAME_CHARACTERISTIC,
    GATT_GENERIC_ACCESS_SERVICE,
    Characteristic,
    Descriptor,
    Service,
)
from bumble.host import Host
from bumble.keys import KeyStore, PairingKeys
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from boards.emulated.air import Air
from boards.emulated.central import IRQ_PERIPHERAL_DISCONNECT, CentralRole
from boards.emulated.controller import RadioController
from boards.emulated.radio_events import RadioStats
from boards.emulated.timed_air import TimedAir
from msa.waiting import within

log = logging.getLogger(__name__)

# MicroPython's IRQ numbers (extmod/modbluetooth.h).
IRQ_CENTRAL_CONNECT = 1
IRQ_CENTRAL_DISCONNECT = 2
IRQ_PERIPHERAL_CONNECT = 7
IRQ_GATTS_WRITE = 3
IRQ_GATTS_READ_REQUEST = 4
IRQ_GATTS_INDICATE_DONE = 20
IRQ_MTU_EXCHANGED = 21
IRQ_CONNECTION_UPDATE = 27
IRQ_ENCRYPTION_UPDATE = 28
IRQ_GET_SECRET = 29
IRQ_SET_SECRET = 30
IRQ_PASSKEY_ACTION = 31
PASSKEY_ACTION_INPUT, PASSKEY_ACTION_DISPLAY, PASSKEY_ACTION_NUMERIC_COMPARISON = 2, 3, 4
SMP_TIMEOUT_S = 30.0
BLE_HS_ETIMEOUT = 13  # NimBLE's status for an indication never confirmed
DEFAULT_ATTR_LEN = 20  # bytes a value holds unless gatts_set_buffer() says more

# MicroPython's characteristic flags.
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_READ_ENCRYPTED = 0x0200
FLAG_READ_AUTHENTICATED = 0x0400
FLAG_WRITE_ENCRYPTED = 0x1000
FLAG_WRITE_AUTHENTICATED = 0x2000

SEC_TYPE_PEER = 2  # NimBLE's BLE_STORE_OBJ_TYPE_PEER_SEC
# MicroPython's address modes (ble.config(addr_mode=...)). The emulated board, like
# an ESP32-C3 without a public address, starts in RANDOM: its identity address.
ADDR_MODE_PUBLIC, ADDR_MODE_RANDOM, ADDR_MODE_RPA, ADDR_MODE_NRPA = 0, 1, 2, 3
RPA_TIMEOUT_S = 900.0  # NimBLE's and most controllers' default: a new RPA every 15 min
DEFAULT_GAP_NAME = b"MPY NIMBLE"  # what the port calls itself until told otherwise
DEFAULT_MTU = 256  # CONFIG_BT_NIMBLE_ATT_PREFERRED_MTU
MIN_MTU, MAX_MTU = 23, 527
TERMINATE_TIMEOUT_S = 1.0

POWER_OFF = hci.HCI_REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR
ENODEV = 19  # NimBLE's answer while the radio is off
ENOTCONN = 107
EINVAL = 22


class Firmware(Protocol):
    """The radio's way back into the firmware: MicroPython IRQs."""

    def send_irq(self, event: int, data: tuple[Any, ...]) -> None:
        """Deliver an IRQ; the firmware handles it when it next idles."""

    async def ask_irq(self, event: int, data: tuple[Any, ...]) -> Any:
        """Deliver an IRQ whose handler's return value the radio needs."""


class FirmwareDelegate(PairingDelegate):
    """The IO capabilities the firmware set (ble.config(io=...)), its answers asked
    with _IRQ_PASSKEY_ACTION and given with gap_passkey(), as NimBLE does."""

    def __init__(self, radio: Radio, conn_handle: int, io: int) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability(io))
        self.radio = radio
        self.conn_handle = conn_handle

    async def get_number(self) -> int | None:
        return await self.radio.passkey_action(self.conn_handle, PASSKEY_ACTION_INPUT, 0)

    async def generate_passkey(self) -> int:
        # The firmware chooses the passkey it shows.
        return await self.radio.passkey_action(self.conn_handle, PASSKEY_ACTION_DISPLAY, 0)

    async def display_number(self, number: int, digits: int) -> None:
        pass  # the firmware shows what it gave in generate_passkey

    async def compare_numbers(self, number: int, digits: int) -> bool:
        accept = await self.radio.passkey_action(
            self.conn_handle, PASSKEY_ACTION_NUMERIC_COMPARISON, number
        )
        return bool(accept)


class FirmwareKeyStore(KeyStore):
    """Bumble's key store, kept by the firmware through the secret IRQs."""

    def __init__(self, firmware: Firmware, bonding: Callable[[], bool]) -> None:
        self._ask = firmware.ask_irq
        self._bonding = bonding
        self.authenticated: dict[str, bool] = {}  # peer -> its stored keys are MITM-protected

    async def get(self, name: str) -> PairingKeys | None:
        value = await self._ask(IRQ_GET_SECRET, (SEC_TYPE_PEER, 0, name.encode()))
        keys = PairingKeys.from_dict(json.loads(value)["keys"]) if value else None
        if keys is not None:
            self.authenticated[name] = _authenticated(keys)
        return keys

    async def update(self, name: str, keys: PairingKeys) -> None:
        if not self._bonding():  # NimBLE keeps no keys from a pairing without bonding
            return
        value = json.dumps({"name": name, "keys": keys.to_dict()}).encode()
        await self._ask(IRQ_SET_SECRET, (SEC_TYPE_PEER, name.encode(), value))

    async def delete(self, name: str) -> None:
        await self._ask(IRQ_SET_SECRET, (SEC_TYPE_PEER, name.encode(), None))

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        entries = []
        index = 0
        while value := await self._ask(IRQ_GET_SECRET, (SEC_TYPE_PEER, index, None)):
            stored = json.loads(value)
            entries.append((stored["name"], PairingKeys.from_dict(stored["keys"])))
            index += 1
        return entries

    async def delete_all(self) -> None:
        for name, _keys in await self.get_all():
            await self.delete(name)


class NimbleSession(smp.Session):
    """Bumble's pairing session, ending as NimBLE's does: the bond is stored once
    the last key has arrived, even if the link drops at once (a phone that
    disconnects as soon as it has paired). Bumble would cancel the completion."""

    completions: set[asyncio.Task[None]] = set()

    def on_peer_key_distribution_complete(self) -> None:
        if self.is_initiator:
            self.distribute_keys()
        task = asyncio.get_running_loop().create_task(self.on_pairing())
        self.completions.add(task)
        task.add_done_callback(self.completions.discard)


def _authenticated(keys: PairingKeys) -> bool:
    ltk = keys.ltk or keys.ltk_peripheral or keys.ltk_central
    return bool(ltk and ltk.authenticated)


def address_bytes(address: hci.Address) -> bytes:
    """An address as MicroPython shows it: six bytes, most significant first."""
    return bytes(reversed(bytes(address)))


class Radio(CentralRole):
    """One power-up of the board's radio on a Bumble LocalLink: peripheral and
    GATT server here, central and GATT client in boards/emulated/central.py."""

    def __init__(
        self,
        link: LocalLink,
        address: str,
        firmware: Firmware,
        irk: bytes | None = None,
        rpa_timeout_s: float = RPA_TIMEOUT_S,
    ) -> None:
        self.link = link
        self.address = hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)  # identity
        # The chip's identity resolving key (NimBLE keeps it in NVS); it goes to the
        # bonded phone in pairing, so that the phone alone can resolve our RPAs.
        self.irk = (irk or bytes(reversed(bytes(self.address))) * 3)[:16]
        self.rpa_timeout_s = rpa_timeout_s
        self.addr_mode = ADDR_MODE_RANDOM
        self._rpa_made: float | None = None
        self._rotation: asyncio.Task[None] | None = None
        self._retimed = asyncio.Event()
        self._adv_args: tuple[Any, ...] | None = None
        self.firmware = firmware
        self.stats = RadioStats()
        self.on_notify: Callable[[bytes], None] | None = None
        self.device: Device | None = None
        self.controller: Controller | None = None
        self.gap_name = DEFAULT_GAP_NAME
        self.mtu = DEFAULT_MTU
        self.security = {"bond": False, "le_secure": False, "mitm": False, "io": 3}
        self.values: dict[int, bytes] = {}  # value handle -> the local GATT database
        self.sizes: dict[int, int] = {}  # gatts_set_buffer()
        self.appending: set[int] = set()
        self.characteristics: dict[int, Characteristic] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # indications under way
        self._access = asyncio.Lock()  # one access callback's handler at a time, in order
        self._passkeys: dict[int, asyncio.Future[int]] = {}  # conn -> gap_passkey's answer
        self._authenticated: dict[int, bool] = {}  # conn -> its keys are MITM-protected
        self._central_setup()
        self._pairing: set[int] = set()

    # -- power ------------------------------------------------------------

    async def op_ble_active(self, state: bool) -> None:
        if state and self.device is None:
            await self._power_on()
        elif not state and self.device is not None:
            await self.power_off()

    async def _power_on(self) -> None:
        self.controller = RadioController("button", link=self.link)
        if isinstance(self.link, Air):
            self.link.claim(self.controller, self.address)
        if isinstance(self.link, TimedAir):
            air, controller = self.link, self.controller
            self.stats.count_on(
                lambda: (air.advertising_events(controller), air.connection_events(controller))
            )
        config = DeviceConfiguration(name="", address=self.address, gap_service_enabled=False)
        config.irk = self.irk
        self.device = Device(
            config=config, host=Host(self.controller, AsyncPipeSink(self.controller))
        )
        self.device.smp_session_proxy = NimbleSession
        self.device.keystore = FirmwareKeyStore(self.firmware, lambda: bool(self.security["bond"]))
        self.device.pairing_config_factory = self._pairing_config
        self.device.gatt_server.max_mtu = self.mtu
        self.device.add_service(self._gap_service())
        self.device.on(Device.EVENT_CONNECTION, self._on_connection)
        await self.device.power_on()

    def _gap_service(self) -> Service:
        name = Characteristic(
            GATT_DEVICE_NAME_CHARACTERISTIC,
            Characteristic.Properties.READ,
            Characteristic.READABLE,
            AttributeValue(read=lambda _c: self.gap_name),
        )
        return Service(GATT_GENERIC_ACCESS_SERVICE, [name])

    async def power_off(self, cut: bool = False) -> None:
        """The radio goes off: links drop, advertising stops.

        `cut`: the battery went, so nothing is said on the air; the peers' links end
        by their supervision timeout. Otherwise (`ble.active(False)`) each link is
        terminated politely, but a terminate the air never answers does not hold
        the radio on.
        """
        device, self.device = self.device, None  # no IRQs from here on
        if device is None:
            return
        self._stop_rotation()
        self.stats.closed()
        if not cut:
            for connection in list(device.connections.values()):
                try:
                    await within(connection.disconnect(POWER_OFF), TERMINATE_TIMEOUT_S)
                except Exception:  # the link may already be gone
                    log.debug("disconnect on power off failed", exc_info=True)
        # A radio without power sends nothing: Bumble's controller would go on
        # advertising from its timers, off the air's list but still on the air.
        assert self.controller is not None
        self.controller.le_legacy_advertiser.stop()
        for advertising_set in self.controller.advertising_sets.values():
            advertising_set.stop()
        if self.controller in self.link.controllers:
            self.link.remove_controller(self.controller)
        self.controller = None

    # -- configuration ------------------------------------------------------

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        return PairingConfig(
            sc=bool(self.security["le_secure"]),
            mitm=bool(self.security["mitm"]),
            bonding=bool(self.security["bond"]),
            delegate=FirmwareDelegate(self, connection.handle, int(self.security["io"])),
        )

    async def passkey_action(self, conn_handle: int, action: int, passkey: int) -> int:
        """_IRQ_PASSKEY_ACTION, then wait for the firmware's gap_passkey() (SMP's 30 s)."""
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._passkeys[conn_handle] = answer
        self._send(IRQ_PASSKEY_ACTION, (conn_handle, action, passkey))
        try:
            return await within(answer, SMP_TIMEOUT_S)
        finally:
            self._passkeys.pop(conn_handle, None)

    async def op_gap_passkey(self, conn_handle: int, action: int, passkey: int) -> None:
        answer = self._passkeys.get(conn_handle)
        if answer is None or answer.done():
            raise OSError(ENOTCONN, "no passkey asked on this connection")
        answer.set_result(passkey)

    async def op_ble_config_get(self, name: str) -> Any:
        """The keys a port reads (the ROM has refused the others with ValueError)."""
        if name == "gap_name":
            return self.gap_name
        device = self._device()
        if name == "mac":
            if self.addr_mode == ADDR_MODE_RPA:
                raise OSError(EINVAL, "NimBLE has no 'mac' to give in RPA mode")
            return (1, address_bytes(device.random_address))
        return self.mtu  # "mtu"

    async def op_ble_config_set(self, name: str, value: Any) -> None:
        """One key (the ROM checked the name and converted the value as the port does)."""
        if name == "gap_name":
            self.gap_name = bytes(value)
        elif name in self.security:  # bond, mitm, le_secure, io: the radio may be off
            self.security[name] = value
        elif name == "mtu":
            device = self._device()
            if not MIN_MTU <= value <= MAX_MTU:
                raise OSError(EINVAL, f"mtu {value} out of {MIN_MTU}..{MAX_MTU}")
            self.mtu = device.gatt_server.max_mtu = value
        elif name == "addr_mode":
            self._device()
            await self._set_addr_mode(value)

    # -- advertising ---------------------------------------------------------

    async def op_gap_advertise(
        self,
        interval_us: int | None,
        adv_data: bytes | None,
        resp_data: bytes | None,
        connectable: bool,
    ) -> None:
        device = self._device()
        await self._stop_advertising(device)
        if interval_us is None:
            self._adv_args = None
            return
        if adv_data is not None:
            device.advertising_data = adv_data
        if resp_data is not None:
            device.scan_response_data = resp_data
        if connectable:
            kind = AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE
        elif device.scan_response_data:
            kind = AdvertisingType.UNDIRECTED_SCANNABLE
        else:
            kind = AdvertisingType.UNDIRECTED
        self._adv_args = (kind, max(interval_us / 1000, 20.0))
        self.stats.adv_data.append(bytes(device.advertising_data))
        await self._start_advertising(device)
        if self.addr_mode == ADDR_MODE_RPA and self._rotation is None:
            self._retimed.clear()
            self._rotation = asyncio.create_task(self._rotate())

    async def _start_advertising(self, device: Device) -> None:
        assert self._adv_args is not None
        kind, interval_ms = self._adv_args
        if self.addr_mode == ADDR_MODE_RPA and self._rpa_due():
            await self._new_rpa(device)
            self.stats.rpa_rotations += 1
        await device.start_advertising(
            advertising_type=kind,
            advertising_interval_min=interval_ms,
            advertising_interval_max=interval_ms,
            auto_restart=False,
        )
        self.stats.advertising_started(interval_ms)

    async def _stop_advertising(self, device: Device) -> None:
        self._stop_rotation()
        self.stats.advertising_stopped()
        await device.stop_advertising()

    # -- privacy -----------------------------------------------------------------

    async def _set_addr_mode(self, mode: int) -> None:
        if mode == ADDR_MODE_PUBLIC:
            raise OSError(EINVAL, "this board has no public address")  # as the port says
        if mode not in (ADDR_MODE_RANDOM, ADDR_MODE_RPA, ADDR_MODE_NRPA):
            return  # as NimBLE: an unknown mode changes nothing
        device = self._device()
        self.addr_mode = mode
        self._rpa_made = None
        if mode == ADDR_MODE_RANDOM:
            await self._use_address(device, self.address)
        elif mode == ADDR_MODE_NRPA:
            await self._use_address(device, hci.Address.generate_private_address())
        else:  # the first RPA now: 'mac' reports it at once, as NimBLE does
            await self._new_rpa(device)

    async def _new_rpa(self, device: Device) -> None:
        await self._use_address(device, hci.Address.generate_private_address(self.irk))
        self._rpa_made = time.monotonic()

    def _rpa_due(self) -> bool:
        made = self._rpa_made
        return made is None or time.monotonic() - made >= self.rpa_timeout_s

    @staticmethod
    async def _use_address(device: Device, address: hci.Address) -> None:
        device.random_address = address
        await device.send_sync_command(
            hci.HCI_LE_Set_Random_Address_Command(random_address=address)
        )

    async def _rotate(self) -> None:
        """The controller's RPA timer: while advertising, a new RPA when it runs out.
        The firmware sees nothing of it, as on a real controller."""
        try:
            while True:
                assert self._rpa_made is not None
                left = self.rpa_timeout_s - (time.monotonic() - self._rpa_made)
                try:
                    await within(self._retimed.wait(), max(left, 0.0))
                    self._retimed.clear()
                    continue  # the bench changed the timeout: count again
                except TimeoutError:
                    pass
                device = self.device
                if device is None or self._adv_args is None or not self.stats.advertising:
                    return
                self.stats.advertising_stopped()
                await device.stop_advertising()
                await self._start_advertising(device)
        except asyncio.CancelledError:
            raise
        except Exception:  # the radio went off under us
            log.debug("RPA rotation stopped", exc_info=True)
        finally:
            if self._rotation is asyncio.current_task():
                self._rotation = None

    def _stop_rotation(self) -> None:
        task, self._rotation = self._rotation, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def set_rpa_timeout(self, seconds: float) -> None:
        """The bench shortens the controller's RPA timeout (NimBLE: 15 min)."""
        self.rpa_timeout_s = seconds
        self._retimed.set()

    @property
    def air_address(self) -> hci.Address | None:
        """The address on the air now (an RPA once the firmware asked for privacy)."""
        return self.device.random_address if self.device is not None else None

    # -- connections -----------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        handle = connection.handle
        peer = connection.peer_address
        central = connection.role == hci.Role.CENTRAL  # we connected out (gap_connect)
        if not central:
            # Connectable advertising ends with the connection, as on NimBLE.
            self._stop_rotation()
            self.stats.advertising_stopped()
        else:
            self._hear_the_server(connection)
        p = connection.parameters
        self.stats.link_up(handle, p.connection_interval, p.peripheral_latency)
        ended = IRQ_PERIPHERAL_DISCONNECT if central else IRQ_CENTRAL_DISCONNECT
        connection.on(
            Connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(handle, peer, ended),
        )
        connection.on(
            Connection.EVENT_CONNECTION_ATT_MTU_UPDATE,
            lambda *_: self._send(IRQ_MTU_EXCHANGED, (handle, connection.att_mtu)),
        )
        connection.on(Connection.EVENT_PAIRING_START, lambda: self._pairing.add(handle))
        connection.on(Connection.EVENT_PAIRING, lambda keys: self._on_paired(connection, keys))
        connection.on(
            Connection.EVENT_PAIRING_FAILURE, lambda reason: self._pairing.discard(handle)
        )
        connection.on(
            Connection.EVENT_CONNECTION_ENCRYPTION_CHANGE,
            lambda: self._on_encryption_change(connection),
        )
        connection.on(
            Connection.EVENT_CONNECTION_PARAMETERS_UPDATE,
            lambda: self._on_parameters_update(connection),
        )
        started = IRQ_PERIPHERAL_CONNECT if central else IRQ_CENTRAL_CONNECT
        self._send(started, (handle, peer.address_type & 1, address_bytes(peer)))

    def _on_parameters_update(self, connection: Connection) -> None:
        p = connection.parameters
        self.stats.link_updated(connection.handle, p.connection_interval, p.peripheral_latency)
        self._send(IRQ_CONNECTION_UPDATE, self._parameters(connection))

    @staticmethod
    def _parameters(connection: Connection) -> tuple[int, int, int, int, int]:
        p = connection.parameters
        # MicroPython reports the interval in units of 1.25 ms, the timeout in 10 ms.
        return (
            connection.handle,
            round(p.connection_interval / 1.25),
            p.peripheral_latency,
            round(p.supervision_timeout / 10),
            0,
        )

    def _on_disconnection(self, handle: int, peer: hci.Address, irq: int) -> None:
        self.stats.link_down(handle)
        self._pairing.discard(handle)
        self._authenticated.pop(handle, None)
        self._send(irq, (handle, peer.address_type & 1, address_bytes(peer)))

    def _on_encryption_change(self, connection: Connection) -> None:
        # NimBLE reports a first pairing once it is complete (keys stored), so
        # while pairing is under way the report waits for _on_paired.
        if connection.handle in self._pairing:
            return
        # Encrypted with a bond's keys: authenticated as they were when made.
        keystore = self.device.keystore if self.device is not None else None
        if isinstance(keystore, FirmwareKeyStore):
            name = str(connection.peer_resolvable_address or connection.peer_address)
            for key in (name, str(connection.peer_address)):
                if key in keystore.authenticated:
                    self._authenticated[connection.handle] = keystore.authenticated[key]
        self._report_encryption(connection, bonded=connection.is_encrypted)

    def _on_paired(self, connection: Connection, keys: PairingKeys) -> None:
        self._pairing.discard(connection.handle)
        # Just Works gives unauthenticated keys; a passkey or a comparison, MITM ones.
        self._authenticated[connection.handle] = _authenticated(keys)
        self._report_encryption(connection, bonded=bool(self.security["bond"]))

    def _report_encryption(self, connection: Connection, bonded: bool) -> None:
        encrypted = connection.is_encrypted
        self._send(
            IRQ_ENCRYPTION_UPDATE,
            (
                connection.handle,
                int(encrypted),
                int(encrypted and self._authenticated.get(connection.handle, False)),
                int(bonded),
                16 if encrypted else 0,
            ),
        )

    async def op_gap_disconnect(self, conn_handle: int) -> bool:
        connection = self._device().lookup_connection(conn_handle)
        if connection is None:
            return False
        await connection.disconnect()
        return True

    async def op_gap_pair(self, conn_handle: int) -> None:
        connection = self._connection(conn_handle)
        await connection.pair()

    def _send(self, event: int, data: tuple[Any, ...]) -> None:
        if self.device is not None:
            self.firmware.send_irq(event, data)

    # -- GATT server -------------------------------------------------------------

    async def op_gatts_register_services(self, services: list[Any]) -> list[list[int]]:
        """Each call replaces every service (NimBLE resets its GATT server): the
        handles are each characteristic's value, then its descriptors'."""
        device = self._device()
        server = device.gatt_server
        server.services, server.attributes, server.attributes_by_handle = [], [], {}
        server.subscribers = {}
        self.values, self.characteristics, self.sizes, self.appending = {}, {}, {}, set()
        device.add_service(self._gap_service())
        handles: list[list[int]] = []
        for service_uuid, characteristics in services:
            made = []
            for uuid, flags, *more in characteristics:
                defined = more[0] if more else []
                descriptors = [self._descriptor(d_uuid, d_flags) for d_uuid, d_flags in defined]
                made.append((self._characteristic(uuid, flags, descriptors), descriptors))
            device.add_service(Service(self._uuid(service_uuid), [c for c, _ in made]))
            ours: list[int] = []
            for characteristic, descriptors in made:
                for attribute in (characteristic, *descriptors):
                    ours.append(attribute.handle)
                    self.values[attribute.handle] = b""
                self.characteristics[characteristic.handle] = characteristic
            handles.append(ours)
        return handles

    @staticmethod
    def _uuid(value: Any) -> UUID:
        """A UUID from the board: its little-endian bytes (2, 4 or 16)."""
        return UUID.from_bytes(bytes(value))

    def _permissions(self, flags: int) -> Characteristic.Permissions:
        permissions = Characteristic.Permissions(0)
        if flags & FLAG_READ:
            permissions |= Characteristic.READABLE
        if flags & (FLAG_WRITE | FLAG_WRITE_NO_RESPONSE):
            permissions |= Characteristic.WRITEABLE
        if flags & FLAG_READ_ENCRYPTED:
            permissions |= Characteristic.READ_REQUIRES_ENCRYPTION
        if flags & FLAG_READ_AUTHENTICATED:
            permissions |= Characteristic.READ_REQUIRES_AUTHENTICATION
        if flags & FLAG_WRITE_ENCRYPTED:
            permissions |= Characteristic.WRITE_REQUIRES_ENCRYPTION
        if flags & FLAG_WRITE_AUTHENTICATED:
            permissions |= Characteristic.WRITE_REQUIRES_AUTHENTICATION
        return permissions

    def _value(self, attribute: Attribute) -> AttributeValue:
        return AttributeValue(
            read=lambda connection: self._on_read(connection, attribute),
            write=lambda connection, value: self._on_write(connection, attribute, value),
        )

    def _characteristic(
        self, uuid: Any, flags: int, descriptors: list[Descriptor]
    ) -> Characteristic:
        characteristic: Characteristic = Characteristic(
            self._uuid(uuid),
            Characteristic.Properties(flags & 0xFF),
            self._permissions(flags),
            b"",
            descriptors,
        )
        characteristic.value = self._value(characteristic)
        return characteristic

    def _descriptor(self, uuid: Any, flags: int) -> Descriptor:
        # NimBLE has no security options on descriptors: read and write only.
        descriptor = Descriptor(self._uuid(uuid), self._permissions(flags & ~0xFF00), b"")
        descriptor.value = self._value(descriptor)
        return descriptor

    async def _on_read(self, connection: Connection, attribute: Attribute) -> bytes:
        async with self._access:  # NimBLE's host task: one access callback at a time
            denied = await self.firmware.ask_irq(
                IRQ_GATTS_READ_REQUEST, (connection.handle, attribute.handle)
            )
            if denied:
                raise ATT_Error(error_code=int(denied), att_handle=attribute.handle)
            # A central's read leaves an appending value as it is (NimBLE's access
            # callback looks the entry up); gatts_read() on the board empties it.
            return self.values.get(attribute.handle, b"")

    def _take_value(self, handle: int) -> bytes:
        """The board's read of the database: an appending value empties as it is read."""
        value = self.values.get(handle, b"")
        if handle in self.appending:
            self.values[handle] = b""
        return value

    async def _on_write(self, connection: Connection, attribute: Attribute, value: bytes) -> None:
        # The ESP32 port runs the program's handler inside NimBLE's access callback
        # (sync events): the next write waits until it has returned, so what the
        # handler reads with gatts_read() is this write (and any it left unread).
        async with self._access:
            handle = attribute.handle
            old = self.values.get(handle, b"") if handle in self.appending else b""
            limit = self.sizes.get(handle, DEFAULT_ATTR_LEN)
            self.values[handle] = (old + bytes(value))[:limit]
            if self.device is not None:
                await self.firmware.ask_irq(IRQ_GATTS_WRITE, (connection.handle, handle))

    async def op_gatts_read(self, value_handle: int) -> bytes:
        return self._take_value(value_handle)  # an unknown handle: b"", as the port ignores it

    async def op_gatts_write(self, value_handle: int, data: bytes, send_update: bool) -> None:
        if value_handle not in self.values:
            raise OSError(EINVAL, "unknown handle")
        self.values[value_handle] = bytes(data)
        # A longer value grows the entry (mp_bluetooth_gatts_db_write reallocates).
        self.sizes[value_handle] = max(self.sizes.get(value_handle, DEFAULT_ATTR_LEN), len(data))
        if send_update and value_handle in self.characteristics:
            await self._device().notify_subscribers(self.characteristics[value_handle], bytes(data))

    async def op_gatts_set_buffer(self, value_handle: int, size: int, append: bool = False) -> None:
        if value_handle not in self.values:
            raise OSError(EINVAL, "unknown handle")
        self.sizes[value_handle] = size
        self.values[value_handle] = b""
        self.appending.discard(value_handle)
        if append:
            self.appending.add(value_handle)

    async def op_gatts_notify(
        self, conn_handle: int, value_handle: int, data: bytes | None
    ) -> None:
        connection = self._connection(conn_handle)
        if value_handle not in self.characteristics:
            raise OSError(EINVAL, "unknown handle")
        data = self._or_value(value_handle, data)
        data = data[: connection.att_mtu - 3]  # NimBLE truncates to the MTU
        self.stats.notifications += 1
        self.stats.last_notify = (time.time(), data)
        if self.on_notify is not None:
            self.on_notify(data)
        await self._device().notify_subscriber(
            connection, self.characteristics[value_handle], data, force=True
        )

    async def op_gatts_indicate(
        self, conn_handle: int, value_handle: int, data: bytes | None
    ) -> None:
        connection = self._connection(conn_handle)
        if value_handle not in self.characteristics:
            raise OSError(EINVAL, "unknown handle")
        data = self._or_value(value_handle, data)
        task = asyncio.create_task(self._indicate(connection, value_handle, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _or_value(self, value_handle: int, data: bytes | None) -> bytes:
        # gatts_notify/indicate without data send the database's value.
        return self.values.get(value_handle, b"") if data is None else bytes(data)

    async def _indicate(self, connection: Connection, value_handle: int, data: bytes) -> None:
        # The call returns at once; the peer's confirmation is _IRQ_GATTS_INDICATE_DONE.
        status = 0
        try:
            await self._device().indicate_subscriber(
                connection, self.characteristics[value_handle], data, force=True
            )
        except Exception:  # no confirmation: the link dropped, or the ATT timeout
            status = BLE_HS_ETIMEOUT
        self._send(IRQ_GATTS_INDICATE_DONE, (connection.handle, value_handle, status))

    # -- helpers ---------------------------------------------------------------------

    def _device(self) -> Device:
        if self.device is None:
            raise OSError(ENODEV, "the radio is off: call ble.active(True) first")
        return self.device

    def _connection(self, conn_handle: int) -> Connection:
        connection = self._device().lookup_connection(conn_handle)
        if connection is None:
            raise OSError(ENOTCONN, "not connected")
        return connection
