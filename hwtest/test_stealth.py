"""Nothing on the button tells the suspect that the victim carries an alarm."""

from __future__ import annotations

import pytest
from bumble.core import AdvertisingData

from boards.emulated.emulator import EmulatedBoard
from hwtest.scanner import Scanner

pytestmark = pytest.mark.hil

FLAGS_ONLY = bytes([0x02, 0x01, 0x06])


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
        for kind in (
            AdvertisingData.COMPLETE_LOCAL_NAME,
            AdvertisingData.SHORTENED_LOCAL_NAME,
            AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            AdvertisingData.MANUFACTURER_SPECIFIC_DATA,
            AdvertisingData.TX_POWER_LEVEL,
        ):
            assert report.data.get(kind) is None


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
