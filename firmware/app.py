# The button's firmware: a press becomes a signed alarm frame in flash, then
# the sender delivers it to the bonded phone. Nothing lights, sounds or buzzes.
#
# Every task runs supervised: an uncaught exception is written to flash and
# the board resets (machine.reset) into the same bonded state, its outbox
# intact; a hang starves the watchdog, which resets it too. The first
# heartbeat after such a reboot carries the RECOVERED flag.
import asyncio
import json
import os
import sys
import time

import machine

from firmware import clock, gesture
from firmware.battery import LOW_PCT, OK_PCT, Battery
from firmware.bonds import Bonds
from firmware.button import Button
from firmware.flash import exists, write_atomic
from firmware.hardware import Hardware
from firmware.outbox import Outbox
from firmware.radio import Radio
from firmware.sender import Sender
from protocol import frame

VERSION = "0.2.0"
TEST_ARMED = "data/test_armed"  # {"until": unix s}: the tech desk arms the test alarm
CRASHED = "data/crashed"  # what crashed, for the next boot to report
MAX_ARM_S = 24 * 3600  # an arming further ahead than this is a mistake


def run(board):
    hardware = Hardware(board)
    hardware.silence()
    provisioned = _settings()
    if provisioned is None:
        print("msa: not provisioned; the radio stays off")
        return
    print("msa: firmware", VERSION, "on", hardware.name, "device %08x" % provisioned.device_id)
    app = App(hardware, provisioned)
    try:
        asyncio.run(app.main())
    except Exception as error:  # KeyboardInterrupt (a developer's Ctrl-C) is no Exception
        crash("main" if app.up else "start-up", error)


def _settings():
    import firmware
    from firmware import settings

    provisioned = settings.load()
    # Checked: unload the checks and give their heap back (about 4 KB).
    del sys.modules["firmware.settings"]
    if hasattr(firmware, "settings"):
        delattr(firmware, "settings")
    return provisioned


def crash(where, error):
    print("msa: crash in", where)
    sys.print_exception(error)
    previous = None
    if exists(CRASHED):
        with open(CRASHED) as f:
            previous = f.read()
    if where == "start-up" and previous and previous.startswith(where):
        # Twice in a row before the button was up: a reset would only loop,
        # draining the battery. (A board without a radio, a broken flash.)
        print("msa: start-up failed twice; not restarting")
        return
    try:
        write_atomic(CRASHED, "%s: %r" % (where, error))
    except Exception:  # the reset matters more than the note
        pass
    machine.reset()


def supervised(where, coro):
    async def run():
        try:
            await coro
        except Exception as error:
            crash(where, error)

    return asyncio.create_task(run())


class App:
    def __init__(self, hardware, config):
        self.hardware = hardware
        self.config = config
        self.flags = 0
        self.up = False  # all tasks started: from here a crash is worth a reset
        self.beat_now = asyncio.ThreadSafeFlag()
        board = hardware.board
        self.battery = Battery(
            hardware.battery_mv,
            hardware.battery_curve(),
            getattr(board, "BATTERY_LOW_PCT", LOW_PCT),
            getattr(board, "BATTERY_OK_PCT", OK_PCT),
        )

    async def main(self):
        hardware, config = self.hardware, self.config
        self._recovered()
        self.outbox = Outbox()
        radio = Radio(hardware.radio(), Bonds(), hardware, VERSION)
        self.sender = Sender(radio, self.outbox, config.device_id)
        button = Button(hardware.button(), hardware.pressed, config, self._test_armed)
        print("msa: alarm on a", config.description)
        supervised("sender", self.sender.run())
        supervised("heartbeat", self._heartbeats())
        supervised("button", button.run(self._on_gesture))
        watchdog_ms = config.watchdog_ms or hardware.watchdog_ms
        wdt = hardware.watchdog(watchdog_ms)
        self.up = True
        # The loop feeds the watchdog: a hang anywhere stops the feeding.
        while True:
            if wdt is not None:
                wdt.feed()
            await asyncio.sleep_ms(watchdog_ms // 4)

    def _recovered(self):
        cause = machine.reset_cause()
        note = None
        if exists(CRASHED):
            with open(CRASHED) as f:
                note = f.read()
        elif cause == getattr(machine, "WDT_RESET", 3):
            note = "watchdog reset"
        if note:
            print("msa: recovered after", note)
            self.flags |= frame.RECOVERED

    def _queue(self, kind, payload):
        data = self.outbox.add(self.config.key, kind, self.config.device_id, payload)
        print("msa: queued", frame.NAMES[kind], int.from_bytes(data[6:10], "big"))
        self.sender.wake()

    # -- the button ------------------------------------------------------------

    def _on_gesture(self, event):
        if event in (gesture.ALARM, gesture.TEST_ALARM):
            kind = frame.ALARM if event == gesture.ALARM else frame.TEST_ALARM
            mv, pct = self.battery.read()
            self._queue(kind, frame.alarm_payload(clock.unix(), mv, pct))
            if kind == frame.TEST_ALARM and exists(TEST_ARMED):
                os.remove(TEST_ARMED)  # one test per arming
        elif event == gesture.STUCK:
            print("msa: button stuck: ignored until released")
            self.flags |= frame.STUCK
            self.beat_now.set()  # tell the police now, not at the next heartbeat
        elif event == gesture.RELEASED:
            print("msa: button released: listening again")
            self.flags &= ~frame.STUCK

    def _test_armed(self):
        # Asked when a gesture starts. Anything short of a valid, unexpired
        # arming, on a clock the phone has set, means: not armed.
        try:
            with open(TEST_ARMED) as f:
                until = json.load(f)["until"]
        except OSError:
            return False
        except (ValueError, KeyError, TypeError):
            until = None
        now = clock.unix()
        if now and until and now < until <= now + MAX_ARM_S:
            return True
        if not now and until:
            print("msa: test alarm armed, but the phone has not set the clock: not armed")
            return False
        print("msa: test alarm arming expired or invalid: removed")
        os.remove(TEST_ARMED)
        return False

    # -- heartbeats and the battery -----------------------------------------------

    async def _heartbeats(self):
        # On a fixed schedule (no drift), plus one at once when beat_now is set.
        interval_ms = self.config.heartbeat_s * 1000
        due = time.ticks_ms()
        while True:
            wait = time.ticks_diff(due, time.ticks_ms())
            if wait <= 0:
                self._heartbeat()
                due = time.ticks_add(due, interval_ms)
                if time.ticks_diff(due, time.ticks_ms()) <= 0:  # fell behind: restart
                    due = time.ticks_add(time.ticks_ms(), interval_ms)
                continue
            try:
                await asyncio.wait_for_ms(self.beat_now.wait(), wait)
                self._heartbeat()
            except asyncio.TimeoutError:
                pass

    def _heartbeat(self):
        battery = self.battery
        mv, pct = battery.read()
        if battery.fell_low():
            self._queue(frame.BATTERY_LOW, frame.battery_low_payload(clock.unix(), mv, pct))
            battery.remember_low()
            print("msa: battery low: %d%% (%d mV)" % (pct, mv))
        flags = self.flags | (frame.LOW_BATTERY if battery.low else 0)
        payload = frame.heartbeat_payload(clock.unix(), mv, clock.uptime_s(), pct, flags)
        self._queue(frame.HEARTBEAT, payload)
        if self.flags & frame.RECOVERED:  # reported: in the outbox, in flash
            self.flags &= ~frame.RECOVERED
            if exists(CRASHED):
                os.remove(CRASHED)
