"""The emulated radio's central role: scanning, connecting, and the GATT client,
as MicroPython's NimBLE binding offers them (gap_scan, gap_connect, gattc_*).

Each call returns at once, as on the port; what it finds comes back as IRQs
(_IRQ_SCAN_RESULT ... _IRQ_GATTC_INDICATE) with the port's tuple shapes, in
the order NimBLE gives them. A failed connection is reported as the port
reports it: _IRQ_PERIPHERAL_DISCONNECT with address type 255 and a zero address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bumble import att, hci
from bumble.core import UUID
from bumble.device import Advertisement, Connection, ConnectionParametersPreferences, Device
from bumble.gatt_client import ServiceProxy

log = logging.getLogger(__name__)

IRQ_SCAN_RESULT = 5
IRQ_SCAN_DONE = 6
IRQ_PERIPHERAL_DISCONNECT = 8
IRQ_GATTC_SERVICE_RESULT = 9
IRQ_GATTC_SERVICE_DONE = 10
IRQ_GATTC_CHARACTERISTIC_RESULT = 11
IRQ_GATTC_CHARACTERISTIC_DONE = 12
IRQ_GATTC_DESCRIPTOR_RESULT = 13
IRQ_GATTC_DESCRIPTOR_DONE = 14
IRQ_GATTC_READ_RESULT = 15
IRQ_GATTC_READ_DONE = 16
IRQ_GATTC_WRITE_DONE = 17
IRQ_GATTC_NOTIFY = 18
IRQ_GATTC_INDICATE = 19

# The advertising types a scanner reports (the docs' adv_type).
ADV_IND, ADV_DIRECT_IND, ADV_SCAN_IND, ADV_NONCONN_IND, SCAN_RSP = 0, 1, 2, 3, 4
NO_CONNECTION = 0xFFFF  # BLE_HS_CONN_HANDLE_NONE
STATUS_FAILED = 0x0E  # an ATT request that failed without an ATT error: "unlikely error"
EBUSY = 16
ENOTCONN = 107
ADDRESS_TYPE_NONE = 0xFF


def adv_type(advertisement: Advertisement) -> int:
    if advertisement.is_scan_response:
        return SCAN_RSP
    if advertisement.is_directed:
        return ADV_DIRECT_IND
    if advertisement.is_connectable:
        return ADV_IND
    if advertisement.is_scannable:
        return ADV_SCAN_IND
    return ADV_NONCONN_IND


class CentralRole:
    """The `op_gap_scan`, `op_gap_connect` and `op_gattc_*` calls of the Radio."""

    device: Device | None
    mtu: int

    def _device(self) -> Device: ...  # noqa: D102 (the Radio's)

    def _send(self, event: int, data: tuple[Any, ...]) -> None: ...  # noqa: D102

    def _connection(self, conn_handle: int) -> Connection: ...  # noqa: D102

    def _central_setup(self) -> None:
        self._scan_task: asyncio.Task[None] | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._discovering: set[int] = set()  # connections with a discovery under way
        self._client_tasks: set[asyncio.Task[None]] = set()

    # -- scanning ------------------------------------------------------------------

    async def op_gap_scan(
        self, duration_ms: int | None, interval_us: int, window_us: int, active: bool
    ) -> None:
        device = self._device()
        if duration_ms is None:
            await self._stop_scan(device)
            return
        await self._stop_scan(device, report=False)
        device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await device.start_scanning(
            active=active,
            scan_interval=max(interval_us / 1000, 2.5),
            scan_window=max(min(window_us, interval_us) / 1000, 2.5),
            filter_duplicates=False,
        )
        if duration_ms > 0:
            self._scan_task = asyncio.create_task(self._scan_for(device, duration_ms / 1000))

    async def _scan_for(self, device: Device, seconds: float) -> None:
        await asyncio.sleep(seconds)  # the scan's own duration, as the controller times it
        self._scan_task = None
        await self._stop_scan(device)

    async def _stop_scan(self, device: Device, report: bool = True) -> None:
        task, self._scan_task = self._scan_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if not device.is_scanning:
            return
        device.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await device.stop_scanning()
        if report:
            self._send(IRQ_SCAN_DONE, ())

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        address = advertisement.address
        self._send(
            IRQ_SCAN_RESULT,
            (
                address.address_type & 1,
                bytes(reversed(bytes(address))),
                adv_type(advertisement),
                advertisement.rssi,
                bytes(advertisement.data_bytes),
            ),
        )

    # -- connecting ------------------------------------------------------------------

    async def op_gap_connect(
        self, addr_type: int, addr: bytes, scan_duration_ms: int, interval_us: int | None
    ) -> None:
        device = self._device()
        if self._connect_task is not None:
            raise OSError(114, "a connection is already being made")  # EALREADY
        if device.is_scanning:
            await self._stop_scan(device)
        kind = hci.Address.RANDOM_DEVICE_ADDRESS if addr_type else hci.Address.PUBLIC_DEVICE_ADDRESS
        target = hci.Address(bytes(reversed(addr)), kind)
        preferences = None
        if interval_us:
            interval_ms = interval_us / 1000
            preferences = {
                hci.Phy.LE_1M: ConnectionParametersPreferences(
                    connection_interval_min=interval_ms, connection_interval_max=interval_ms
                )
            }
        self._connect_task = asyncio.create_task(
            self._connect(device, target, scan_duration_ms / 1000, preferences)
        )

    async def _connect(
        self, device: Device, target: hci.Address, timeout: float, preferences: Any
    ) -> None:
        try:
            await device.connect(
                target, connection_parameters_preferences=preferences, timeout=timeout
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # timed out, refused: the port's "connection failed"
            log.debug("gap_connect to %s failed: %r", target, error)
            self._send(IRQ_PERIPHERAL_DISCONNECT, (NO_CONNECTION, ADDRESS_TYPE_NONE, bytes(6)))
        finally:
            self._connect_task = None

    async def op_gap_connect_cancel(self) -> None:
        task, self._connect_task = self._connect_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._send(IRQ_PERIPHERAL_DISCONNECT, (NO_CONNECTION, ADDRESS_TYPE_NONE, bytes(6)))

    # -- GATT client -------------------------------------------------------------------

    def _client(self, conn_handle: int, work: Callable[[Connection], Awaitable[None]]) -> None:
        """Start a client procedure; its results come back as IRQs."""
        connection = self._connection(conn_handle)
        task = asyncio.create_task(work(connection))
        self._client_tasks.add(task)
        task.add_done_callback(self._client_tasks.discard)

    def _discover(
        self, conn_handle: int, done: int, find: Callable[[Connection], Awaitable[None]]
    ) -> None:
        """A discovery: `find` sends each result's IRQ; then `done` with the status.
        One at a time per connection, as NimBLE (EBUSY)."""
        if conn_handle in self._discovering:
            raise OSError(EBUSY, "a discovery is already under way on this connection")

        async def discover(connection: Connection) -> None:
            status = 0
            try:
                await find(connection)
            except Exception as error:
                status = _status(error)
            finally:
                self._discovering.discard(conn_handle)
            self._send(done, (conn_handle, status))

        self._client(conn_handle, discover)  # ENOTCONN here leaves nothing under way
        self._discovering.add(conn_handle)  # before the task's first step runs

    async def op_gattc_discover_services(self, conn_handle: int, uuid: Any) -> None:
        wanted = [UUID.from_bytes(uuid)] if uuid is not None else []

        async def find(connection: Connection) -> None:
            for service in await connection.gatt_client.discover_services(wanted):
                self._send(
                    IRQ_GATTC_SERVICE_RESULT,
                    (conn_handle, service.handle, service.end_group_handle, service.uuid),
                )

        self._discover(conn_handle, IRQ_GATTC_SERVICE_DONE, find)

    async def op_gattc_discover_characteristics(
        self, conn_handle: int, start: int, end: int, uuid: Any
    ) -> None:
        wanted = UUID.from_bytes(uuid) if uuid is not None else None

        async def find(connection: Connection) -> None:
            client = connection.gatt_client
            span = ServiceProxy(client, start, end, UUID.from_16_bits(0))
            found = await client.discover_characteristics([], span)
            # NimBLE reports each one's end: the next one's declaration - 1.
            for n, characteristic in enumerate(found):
                after = found[n + 1].handle - 1 if n + 1 < len(found) else end
                if wanted is None or characteristic.uuid == wanted:
                    self._send(
                        IRQ_GATTC_CHARACTERISTIC_RESULT,
                        (
                            conn_handle,
                            after,
                            characteristic.handle,
                            int(characteristic.properties),
                            characteristic.uuid,
                        ),
                    )

        self._discover(conn_handle, IRQ_GATTC_CHARACTERISTIC_DONE, find)

    async def op_gattc_discover_descriptors(self, conn_handle: int, start: int, end: int) -> None:
        async def find(connection: Connection) -> None:
            found = await connection.gatt_client.discover_descriptors(
                start_handle=start, end_handle=end
            )
            for descriptor in found:
                self._send(
                    IRQ_GATTC_DESCRIPTOR_RESULT, (conn_handle, descriptor.handle, descriptor.type)
                )

        self._discover(conn_handle, IRQ_GATTC_DESCRIPTOR_DONE, find)

    async def op_gattc_read(self, conn_handle: int, value_handle: int) -> None:
        async def read(connection: Connection) -> None:
            status = 0
            try:
                value = await connection.gatt_client.read_value(value_handle, no_long_read=True)
                self._send(IRQ_GATTC_READ_RESULT, (conn_handle, value_handle, bytes(value)))
            except Exception as error:
                status = _status(error)
            self._send(IRQ_GATTC_READ_DONE, (conn_handle, value_handle, status))

        self._client(conn_handle, read)

    async def op_gattc_write(
        self, conn_handle: int, value_handle: int, data: bytes, mode: int
    ) -> None:
        async def write(connection: Connection) -> None:
            status = 0
            try:
                await connection.gatt_client.write_value(
                    value_handle, bytes(data), with_response=bool(mode)
                )
            except Exception as error:
                status = _status(error)
            if mode:  # only a write with response is reported
                self._send(IRQ_GATTC_WRITE_DONE, (conn_handle, value_handle, status))

        self._client(conn_handle, write)

    async def op_gattc_exchange_mtu(self, conn_handle: int) -> None:
        connection = self._device().lookup_connection(conn_handle)
        if connection is None:
            raise OSError(ENOTCONN, "not connected")

        async def exchange(connection: Connection) -> None:
            try:
                await connection.gatt_client.request_mtu(self.mtu)
            except Exception:  # the link dropped: its disconnect IRQ says so
                log.debug("MTU exchange failed", exc_info=True)

        self._client(conn_handle, exchange)

    def _hear_the_server(self, connection: Connection) -> None:
        """Every notification and indication becomes an IRQ, subscribed or not (the
        port's client writes the CCCD itself, with gattc_write)."""
        client = connection.gatt_client
        handle = connection.handle

        def notified(pdu: att.ATT_Handle_Value_Notification) -> None:
            self._send(IRQ_GATTC_NOTIFY, (handle, pdu.attribute_handle, bytes(pdu.attribute_value)))

        def indicated(pdu: att.ATT_Handle_Value_Indication) -> None:
            self._send(
                IRQ_GATTC_INDICATE, (handle, pdu.attribute_handle, bytes(pdu.attribute_value))
            )
            client.send_confirmation(att.ATT_Handle_Value_Confirmation())

        client.on_att_handle_value_notification = notified  # type: ignore[method-assign]
        client.on_att_handle_value_indication = indicated  # type: ignore[method-assign]


def _status(error: Exception) -> int:
    """A failed procedure's status, as the port gives it: the ATT error, if any."""
    if isinstance(error, att.ATT_Error):
        return int(error.error_code)
    return STATUS_FAILED
