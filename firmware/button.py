# The hidden button's pin: debounced edges for firmware/gesture.py, which says
# what they mean. A level counts once it has held, with no edge, for
# debounce_ms: contact bounce and a chattering contact raise nothing.
#
# The IRQ notes each edge's time and the level it left, in a ring the task reads
# once it runs: a press the task was too busy to see while it lasted (a flash
# write or a radio burst can hold the interpreter for tens of ms) still counts
# if it held debounce_ms between its edges.
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
_RING = 64  # edges noted by the IRQ and not yet read: over a second of chattering


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
        self._ring_at = [self._ticks] * _RING  # ticks_ms of each edge
        self._ring_level = bytearray(_RING)  # 1: pressed after that edge
        self._head = 0  # edges noted (the IRQ writes)
        self._tail = 0  # edges read (the task)
        pin.irq(self._on_edge)

    def _on_edge(self, pin):
        # An IRQ only notes and wakes (no allocation): the task does the work.
        i = self._head % _RING
        self._ring_at[i] = time.ticks_ms()
        self._ring_level[i] = 1 if self.is_pressed(pin) else 0
        self._head += 1
        self._edges += 1
        self._edge.set()

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
                if not await self._settle():  # chattering: a broken or wet contact
                    out = []
                    g.stick(out)
                    self._emit(emit, out)
                    continue
                for t, level in self._levels():
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
        # True once no edge has come for debounce_ms; False: chattering.
        while True:
            t = self.now()
            if t - self._window > 1000:
                self._window, self._edges = t, 0
            if self._edges > _CHATTER_EDGES:
                return False
            if not await self._wait(self.debounce_ms):
                return True

    def _levels(self):
        # The levels that held debounce_ms, each with when it began (on the clock
        # of now()), from the edges noted since the last read; the last is the
        # pin as it is now, which has held since the last edge.
        now_ticks, now = time.ticks_ms(), self.now()
        head = self._head
        first = max(self._tail, head - _RING)
        self._tail = head
        levels = []
        for n in range(first, head):
            i = n % _RING
            began = self._ring_at[i]
            if n + 1 < head:
                if time.ticks_diff(self._ring_at[(n + 1) % _RING], began) < self.debounce_ms:
                    continue  # a bounce
                level = self._ring_level[i] == 1
            else:
                level = self.is_pressed(self.pin)
            levels.append((now - time.ticks_diff(now_ticks, began), level))
        return levels

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
        self._tail = self._head
        self.pin.irq(self._on_edge)
