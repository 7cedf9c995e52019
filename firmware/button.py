# The hidden button's pin: debounced edges for firmware/gesture.py, which says
# what they mean. A level counts once it has held, with no edge, for
# debounce_ms: contact bounce and a chattering contact raise nothing.
#
# A stuck button (held down past stuck_ms) or a chattering one (more than
# _CHATTER_EDGES edges in a second) costs no IRQs and no wake-ups: its IRQ is
# switched off, and so is its pull-up (which draws current while the contact
# is closed), and the pin is sampled every _STUCK_POLL_MS until it has been
# released for two samples in a row. Then the button works again.
import asyncio
import time

import machine

from firmware.gesture import Gesture

_CHATTER_EDGES = 40
_STUCK_POLL_MS = 250


class Button:
    def __init__(self, pin, is_pressed, settings, armed=None):
        self.pin = pin
        self.is_pressed = is_pressed
        self.debounce_ms = settings.debounce_ms
        self.gesture = Gesture(settings, armed)
        self._edge = asyncio.ThreadSafeFlag()
        self._edges = 0  # edges since _window began, counted in the IRQ
        self._window = 0
        self._ms = 0  # a millisecond clock that does not wrap (ticks_ms does)
        self._ticks = time.ticks_ms()
        self._edge_ticks = self._ticks
        pin.irq(self._on_edge)

    def _on_edge(self, _pin):
        self._edges += 1
        self._edge_ticks = time.ticks_ms()  # when, to the ms: the task may wake later
        self._edge.set()  # an IRQ only counts, notes the time and wakes; the task works

    def now(self):
        ticks = time.ticks_ms()
        self._ms += time.ticks_diff(ticks, self._ticks)
        self._ticks = ticks
        return self._ms

    async def run(self, emit):
        """Call emit(event) for each gesture event (firmware/gesture.py), forever."""
        g = self.gesture
        pressed = self.is_pressed(self.pin)
        if pressed:  # held through a reboot: a press all the same
            self._emit(emit, g.down(self.now()))
        while True:
            if g.stuck:
                await self._wait_release()
                pressed = False
                self._emit(emit, g.up(self.now()))
                continue
            deadline = g.deadline()
            edge = await self._wait(None if deadline is None else deadline - self.now())
            if edge:
                level = await self._settle()
                # The level began at the last edge before it settled.
                t = self.now() - time.ticks_diff(time.ticks_ms(), self._edge_ticks)
                if level is None:  # chattering: a broken or wet contact
                    out = []
                    g.stick(out)
                    self._emit(emit, out)
                    continue
                if level != pressed:
                    pressed = level
                    self._emit(emit, g.down(t) if pressed else g.up(t))
            self._emit(emit, g.tick(self.now()))

    def _emit(self, emit, events):
        for event in events:
            emit(event)

    async def _wait(self, timeout_ms):
        if timeout_ms is None:
            await self._edge.wait()
            return True
        if timeout_ms <= 0:
            return False
        try:
            await asyncio.wait_for_ms(self._edge.wait(), timeout_ms)
            return True
        except asyncio.TimeoutError:
            return False

    async def _settle(self):
        # The level once no edge has come for debounce_ms; None: chattering.
        while True:
            t = self.now()
            if t - self._window > 1000:
                self._window, self._edges = t, 0
            if self._edges > _CHATTER_EDGES:
                return None
            if not await self._wait(self.debounce_ms):
                return self.is_pressed(self.pin)

    async def _wait_release(self):
        self.pin.irq(None)
        released = 0
        while released < 2:
            self.pin.init(pull=None)
            await asyncio.sleep_ms(_STUCK_POLL_MS)
            self.pin.init(pull=machine.Pin.PULL_UP)
            released = 0 if self.is_pressed(self.pin) else released + 1
        self._edges = 0
        self._edge.clear()
        self.pin.irq(self._on_edge)
