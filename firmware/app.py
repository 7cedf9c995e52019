# The button's firmware: a press becomes a signed alarm frame in flash, then
# the sender delivers it to the bonded phone. Nothing lights, sounds or buzzes.
import asyncio
import os

from firmware import clock, settings
from firmware.bonds import Bonds
from firmware.button import Button
from firmware.flash import exists
from firmware.hardware import Hardware
from firmware.outbox import Outbox
from firmware.radio import Radio
from firmware.sender import Sender
from protocol import frame

VERSION = "0.1.0"
TEST_ARMED = "data/test_armed"  # the tech desk arms the test alarm with this file


def run(board):
    hardware = Hardware(board)
    hardware.silence()
    provisioned = settings.load()
    if provisioned is None:
        print("msa: not provisioned; the radio stays off")
        return
    print("msa: firmware", VERSION, "on", hardware.name, "device %08x" % provisioned.device_id)
    asyncio.run(main(hardware, provisioned))


def _queue(config, outbox, kind, payload):
    data = outbox.add(config.key, kind, config.device_id, payload)
    print("msa: queued", frame.NAMES[kind], int.from_bytes(data[6:10], "big"))


async def _heartbeats(hardware, config, outbox, sender):
    while True:
        payload = frame.heartbeat_payload(clock.unix(), hardware.battery_mv(), clock.uptime_s())
        _queue(config, outbox, frame.HEARTBEAT, payload)
        sender.wake()
        await asyncio.sleep(config.heartbeat_s)


async def main(hardware, config):
    outbox = Outbox()
    radio = Radio(hardware.radio(), Bonds(), hardware, VERSION)
    sender = Sender(radio, outbox, config.device_id)
    button = Button(hardware.button(), hardware.pressed, config.debounce_ms)
    asyncio.create_task(sender.run())
    asyncio.create_task(_heartbeats(hardware, config, outbox, sender))
    while True:
        await button.press()
        kind = frame.TEST_ALARM if exists(TEST_ARMED) else frame.ALARM
        _queue(config, outbox, kind, frame.alarm_payload(clock.unix(), hardware.battery_mv()))
        if kind == frame.TEST_ALARM:
            os.remove(TEST_ARMED)
        sender.wake()
        await button.release()
