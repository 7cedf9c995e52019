"""What a suspect with a BLE scanner app sees: advertisements, and what an
unbonded central can read after connecting. A Bumble central on the same air."""

from __future__ import annotations

import asyncio

from bumble import crypto, hci
from bumble.core import UUID
from bumble.device import Advertisement, Device, Peer
from bumble.gatt import GATT_DEVICE_NAME_CHARACTERISTIC
from bumble.link import LocalLink

from boards.emulated.controller import device_on
from msa.waiting import within


class Scanner:
    def __init__(self, air: LocalLink) -> None:
        self.device = device_on(air, "scanner")

    async def start(self) -> None:
        await self.device.power_on()

    async def advertisements_of(self, address: str, count: int = 3) -> list[Advertisement]:
        """Actively scan (with scan requests) until `count` reports from `address`."""
        target = hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
        seen: list[Advertisement] = []
        done = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Advertisement) -> None:
            if advertisement.address == target and not done.done():
                seen.append(advertisement)
                if len(seen) >= count:
                    done.set_result(None)

        self.device.on(Device.EVENT_ADVERTISEMENT, on_advertisement)
        await self.device.start_scanning(active=True, filter_duplicates=False)
        try:
            await within(done, 10)
        finally:
            await self.device.stop_scanning()
            self.device.remove_listener(Device.EVENT_ADVERTISEMENT, on_advertisement)
        return seen

    async def advertisements(
        self, addresses: int = 1, count: int = 1, timeout: float = 15
    ) -> list[Advertisement]:
        """Every report on the air, until `addresses` distinct addresses and at least
        `count` reports were seen. A suspect's scanner knows no address in advance."""
        seen: list[Advertisement] = []
        done = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Advertisement) -> None:
            seen.append(advertisement)
            distinct = {bytes(a.address) for a in seen}
            if len(distinct) >= addresses and len(seen) >= count and not done.done():
                done.set_result(None)

        self.device.on(Device.EVENT_ADVERTISEMENT, on_advertisement)
        await self.device.start_scanning(active=True, filter_duplicates=False)
        try:
            await within(done, timeout)
        finally:
            await self.device.stop_scanning()
            self.device.remove_listener(Device.EVENT_ADVERTISEMENT, on_advertisement)
        return seen

    async def device_name_of(self, address: str | hci.Address) -> bytes:
        """Connect without bonding and read the GAP Device Name."""
        target = (
            address
            if isinstance(address, hci.Address)
            else hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
        )
        connection = await self.device.connect(target, timeout=10)
        try:
            peer = Peer(connection)
            await peer.discover_services()
            found = await peer.discover_characteristics([UUID.from_16_bits(0x2A00)])
            assert found and found[0].uuid == GATT_DEVICE_NAME_CHARACTERISTIC
            return bytes(await found[0].read_value())
        finally:
            await connection.disconnect()


def resolves(address: hci.Address, irk: bytes) -> bool:
    """Whether `address` is a resolvable private address made with `irk` (Core Vol 3
    Part H 2.2.2: hash = ah(irk, prand)), as the bonded phone's controller checks."""
    if not address.is_resolvable:
        return False
    raw = bytes(address)  # little-endian: hash in the low 3 bytes, prand in the high 3
    return crypto.ah(irk, raw[3:6]) == raw[0:3]
