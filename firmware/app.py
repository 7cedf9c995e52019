# The button's firmware: a press becomes a signed alarm frame in flash, then
# the sender delivers it to the bonded phone. Nothing lights, sounds or buzzes.
import asyncio

from firmware import clock, settings
from firmware.bonds import Bonds
from firmware.button import Button
from firmware.flash import exists
from firmware.outbox import Outbox
from firmware.radio import Radio
from firmware.sender import Sender
from protocol import frame

VERSION = "0.1.0"
TEST_ARMED = "data/test_armed"  # the tech desk arms the test alarm with this file


def run(board):
    board.silence()
    provisioned = settings.load()
    if provisioned is None:
        print("msa: not provisioned; the radio stays off")
        return
    print("msa: firmware", VERSION, "on", board.NAME, "device %08x" % provisioned.device_id)
    asyncio.run(main(board, provisioned))


def _queue(board, config, outbox, kind, payload):
    data = outbox.add(config.key, kind, config.device_id, payload)
    print("msa: queued", frame.NAMES[kind], int.from_bytes(data[6:10], "big"))


async def _heartbeats(board, config, outbox, sender):
    while True:
        payload = frame.heartbeat_payload(clock.unix(), board.battery_mv(), clock.uptime_s())
        _queue(board, config, outbox, frame.HEARTBEAT, payload)
        sender.wake()
        await asyncio.sleep(config.heartbeat_s)


async def main(board, config):
    outbox = Outbox()
    radio = Radio(board.radio(), Bonds(), board.ADV_INTERVAL_US)
    sender = Sender(radio, outbox, config.device_id)
    button = Button(board.button(), board.pressed, config.debounce_ms)
    asyncio.create_task(sender.run())
    asyncio.create_task(_heartbeats(board, config, outbox, sender))
    while True:
        await button.press()
        kind = frame.TEST_ALARM if exists(TEST_ARMED) else frame.ALARM
        _queue(board, config, outbox, kind, frame.alarm_payload(clock.unix(), board.battery_mv()))
        if kind == frame.TEST_ALARM:
            import os

            os.remove(TEST_ARMED)
        sender.wake()
        await button.release()
