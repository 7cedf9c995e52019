# The running button (firmware/app.py starts it): its outbox, radio, sender,
# button and heartbeat, each task supervised. A press becomes an alarm frame
# (firmware/presses.py), the sender delivers it (firmware/sender.py).
# The biggest modules are compiled first, while the heap is emptiest.
from protocol import frame  # isort: skip
from firmware.sender import Sender  # isort: skip
from firmware.radio import Radio  # isort: skip
import asyncio
import json
import os

import machine

from firmware import clock, gesture
from firmware.app import CRASHED, VERSION, supervised
from firmware.battery import LOW_PCT, OK_PCT, Battery
from firmware.bonds import Bonds
from firmware.button import Button
from firmware.flash import exists
from firmware.heartbeat import Heartbeat
from firmware.outbox import Exhausted, Outbox
from firmware.presses import Presses
from protocol.mac import MacKey

TEST_ARMED = "data/test_armed"  # {"until": unix s}: the tech desk arms the test alarm
MAX_ARM_S = 24 * 3600  # an arming further ahead than this is a mistake


class App:
    def __init__(self, hardware, config, reduced=False):
        self.hardware = hardware
        self.config = config
        self.reduced = reduced
        self.key = MacKey(config.key)
        self.flags = 0
        self.up = False  # all tasks started: from here a crash is worth a reset
        board = hardware.board
        self.battery = Battery(
            hardware.battery_mv,
            hardware.battery_curve(),
            getattr(board, "BATTERY_LOW_PCT", LOW_PCT),
            getattr(board, "BATTERY_OK_PCT", OK_PCT),
        )

    def _optional(self, what, step):
        # In reduced mode a part that fails is left out; otherwise it is a start-up error.
        try:
            return step()
        except Exception as error:
            if not self.reduced:
                raise
            print("msa: reduced mode: without the %s (%r)" % (what, error))
            return None

    async def main(self):
        hardware, config = self.hardware, self.config
        self._optional("crash note", self._recovered)
        if self.reduced:
            self.flags |= frame.RECOVERED
        self.outbox = Outbox(config.epoch)
        self.presses = Presses(self.outbox, self.queue, self.battery)
        radio = Radio(hardware.radio(), Bonds(), hardware, VERSION)
        self.sender = Sender(radio, self.outbox, config.device_id, self.key)
        self.sender.on_offer = self.presses.offered
        self.sender.on_receipt = self.presses.store
        self.heartbeat = Heartbeat(self)
        armed = None if self.reduced else self._test_armed
        button = Button(hardware.button(), hardware.pressed, config, armed)
        print("msa: alarm on a", config.description)
        supervised("sender", self.sender.run())
        supervised("heartbeat", self.heartbeat.run())
        supervised("button", button.run(self._on_gesture))
        watchdog_ms = config.watchdog_ms or hardware.watchdog_ms
        wdt = self._optional("watchdog", lambda: hardware.watchdog(watchdog_ms))
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

    def reported(self, flags):
        # A heartbeat with these flags is in flash: the recovery is told.
        if flags & frame.RECOVERED:
            self.flags &= ~frame.RECOVERED
            if exists(CRASHED):
                os.remove(CRASHED)

    def queue(self, kind, payload):
        """Store a new frame; its bytes, or None when the flash has no room (said)."""
        try:
            data = self.outbox.add(self.key, kind, self.config.device_id, payload)
        except (OSError, Exhausted) as error:
            print("msa: no room for a", frame.NAMES[kind], "frame:", error)
            return None
        print("msa: queued", frame.NAMES[kind], int.from_bytes(data[6:10], "big"))
        self.sender.wake()
        return data

    # -- the button ------------------------------------------------------------

    def _on_gesture(self, event):
        if event in (gesture.ALARM, gesture.TEST_ALARM):
            kind = frame.ALARM if event == gesture.ALARM else frame.TEST_ALARM
            self.presses.press(kind)
            if kind == frame.TEST_ALARM and exists(TEST_ARMED):
                os.remove(TEST_ARMED)  # one test per arming
        elif event == gesture.STUCK:
            print("msa: button stuck: ignored until released")
            self.flags |= frame.STUCK
            self.heartbeat.now.set()  # tell the police now, not at the next heartbeat
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
