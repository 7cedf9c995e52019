# Heartbeats (protocol/SPEC.md §3, §3.1): on a fixed schedule, plus one at once
# when the app asks (a stuck button). Each carries the battery, the flags and
# what waits in the outbox. Heartbeats go first when the flash is short: the
# oldest make room, and none is built without the room the outbox keeps for
# alarms (firmware/outbox.py); the next one built says "flash low".
import asyncio
import time

from firmware import clock
from firmware.outbox import HEARTBEAT_BLOCKS, LOW_BLOCKS, MAX_HEARTBEATS
from protocol import frame


class Heartbeat:
    def __init__(self, app):
        self.app = app
        self.now = asyncio.ThreadSafeFlag()  # set: a heartbeat at once
        self.dropped = False  # a heartbeat found no room since the last one built

    async def run(self):
        # On a fixed schedule (no drift), plus one at once when `now` is set.
        interval_ms = self.app.config.heartbeat_s * 1000
        due = time.ticks_ms()
        while True:
            wait = time.ticks_diff(due, time.ticks_ms())
            if wait <= 0:
                self.beat()
                due = time.ticks_add(due, interval_ms)
                if time.ticks_diff(due, time.ticks_ms()) <= 0:  # fell behind: restart
                    due = time.ticks_add(time.ticks_ms(), interval_ms)
                continue
            try:
                await asyncio.wait_for_ms(self.now.wait(), wait)
                self.beat()
            except asyncio.TimeoutError:
                pass

    def beat(self):
        app = self.app
        app.presses.store()  # presses waiting for room go first
        battery = app.battery
        mv, pct = battery.read()
        if battery.fell_low():
            if app.queue(frame.BATTERY_LOW, frame.encode(frame.BATTERY_LOW, clock.unix(), mv, pct)):
                battery.remember_low()
                print("msa: battery low: %d%% (%d mV)" % (pct, mv))
            else:
                battery.low = False  # not stored: the next heartbeat tries again
        outbox = app.outbox
        free = outbox.free_blocks()
        while free < HEARTBEAT_BLOCKS and outbox.drop_heartbeat(0):
            free = outbox.free_blocks()
        if free < HEARTBEAT_BLOCKS:
            if not self.dropped:
                print("msa: flash low (%d blocks free): heartbeats dropped" % free)
            self.dropped = True
            return
        flags = app.flags | (frame.LOW_BATTERY if battery.low else 0)
        if self.dropped or free < LOW_BLOCKS:
            flags |= frame.FLASH_LOW
        if app.sender.unreceipted_s() > app.config.unreceipted_s:
            flags |= frame.UNRECEIPTED
        if app.reduced:
            flags |= frame.REDUCED
        waiting, alarms = outbox.count()
        extra = app.presses.in_memory()
        payload = frame.encode(
            frame.HEARTBEAT,
            clock.unix(),
            mv,
            clock.uptime_s(),
            pct,
            flags,
            min(waiting + extra, 0xFFFF),
            min(alarms + extra, 255),
        )
        if app.queue(frame.HEARTBEAT, payload) is None:
            self.dropped = True
            return
        self.dropped = False
        outbox.drop_heartbeat(MAX_HEARTBEATS)
        app.reported(flags)
