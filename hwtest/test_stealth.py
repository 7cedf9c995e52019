"""Nothing on the button tells the suspect that the victim carries an alarm."""

from __future__ import annotations

import json

import pytest
from bumble import hci
from bumble.core import AdvertisingData

from boards.emulated.emulator import EmulatedBoard
from hwtest.phones import bonded_phone, firmware_version
from hwtest.scanner import Scanner, resolves

pytestmark = pytest.mark.hil

FLAGS_ONLY = bytes([0x02, 0x01, 0x06])  # LE General Discoverable: what most devices send
IDENTIFYING = (
    AdvertisingData.COMPLETE_LOCAL_NAME,
    AdvertisingData.SHORTENED_LOCAL_NAME,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
    AdvertisingData.TX_POWER_LEVEL,
    AdvertisingData.APPEARANCE,
)
ROTATION_S = 0.5  # the radio's RPA timeout, shortened from NimBLE's 15 minutes
# NimBLE's built-in IRK (ble_hs_pvcy.c), used unless the stack is given one: a
# button whose RPAs resolve with it is readable by anyone who has the source.
NIMBLE_DEFAULT_IRK = bytes.fromhex("ef8de2164fec430dbf5bdd34c0531eb8")


async def test_advertising_carries_no_name_no_service_and_no_manufacturer_data(
    board: EmulatedBoard,
):
    scanner = Scanner(board.link)
    await scanner.start()

    reports = await scanner.advertisements_of(board.address, count=4)

    # Bumble's virtual controller answers a scan request with the advertising
    # data itself, so scan responses carry the flags too; what the firmware
    # set as its scan response is checked on the radio.
    assert board.hardware.radio.device.scan_response_data == b""
    assert any(not report.is_scan_response for report in reports)
    for report in reports:
        assert report.data_bytes == FLAGS_ONLY
        for kind in IDENTIFYING:
            assert report.data.get(kind) is None


async def test_a_bonded_button_cannot_be_told_from_an_anonymous_device(
    board: EmulatedBoard, tmp_path
):
    phone = await bonded_phone(board, tmp_path / "phone")
    board.set_rpa_timeout(ROTATION_S)
    identity = hci.Address(board.address, hci.Address.RANDOM_DEVICE_ADDRESS)
    irk = bytes.fromhex(json.loads((board.directory / "identity.json").read_text())["irk"])
    scanner = Scanner(board.link)
    await scanner.start()

    # Only the button advertises on this air: every report is the button's.
    reports = await scanner.advertisements(addresses=4, count=8)

    addresses = {bytes(r.address): r.address for r in reports}
    assert len(addresses) >= 4, "the address must rotate"
    for address in addresses.values():
        assert address.address_type == hci.Address.RANDOM_DEVICE_ADDRESS
        assert address.is_resolvable and not address.is_static
        assert address != identity
        assert resolves(address, irk), f"{address} is not an RPA of this button"
        for published in (NIMBLE_DEFAULT_IRK, NIMBLE_DEFAULT_IRK[::-1], bytes(16)):
            assert not resolves(address, published), "made with a published IRK"
    # Nothing else survives a rotation: the same flags-only payload as any device.
    assert {r.data_bytes for r in reports} == {FLAGS_ONLY}
    for report in reports:
        for kind in IDENTIFYING:
            assert report.data.get(kind) is None

    # Connections need an address that holds still while they are made.
    board.set_rpa_timeout(900)
    (current,) = (await scanner.advertisements(count=1))[-1:]
    assert resolves(current.address, irk)
    # A stranger who connects reads an empty name; the button then drops him.
    assert await scanner.device_name_of(current.address) == b""

    # And still the bonded phone finds it: its bond's IRK resolves the RPA.
    await phone.connect()
    try:
        await phone.secure()
        assert phone.connection.peer_resolvable_address is not None
        assert phone.connection.peer_address == identity
        info = await phone.device_info()
        assert (info.firmware_revision, info.model_number) == (firmware_version(), "emulated")
    finally:
        await phone.close()


async def test_a_stranger_who_connects_reads_an_empty_device_name(board: EmulatedBoard):
    scanner = Scanner(board.link)
    await scanner.start()
    assert await scanner.device_name_of(board.address) == b""


async def test_the_firmware_keeps_every_light_off(board: EmulatedBoard):
    await board.press()
    await board.console.expect("queued alarm")
    led_writes = board.hardware.outputs.pin_writes
    assert led_writes, "the firmware should drive the LED pin low at boot"
    assert all(value == 0 for _pin, value in led_writes)
