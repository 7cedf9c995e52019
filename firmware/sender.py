# Delivers the outbox to the phone (protocol/SPEC.md §1, §6): the oldest
# unacknowledged frame first, re-sent with back-off until the phone writes its
# ACK, in order. On a new link the phone subscribes, then writes TIME: that
# write is the signal to send at once (a notification before it would be lost).
import asyncio
import time

from micropython import const

from firmware import clock
from protocol import frame

_FIRST_RETRY_MS = const(500)
_MAX_RETRY_MS = const(30000)


def _counter(data):
    return int.from_bytes(data[6:10], "big")


class Sender:
    def __init__(self, radio, outbox, device_id):
        self.radio = radio
        self.outbox = outbox
        self.device_id = device_id
        self._sent = None  # counter of the frame last notified
        self._retry_ms = _FIRST_RETRY_MS
        self._due = 0  # ticks_ms when the frame last notified is re-sent

    def wake(self):
        self.radio.changed.set()

    async def run(self):
        while True:
            if self.radio.new_link:  # before the writes: its TIME may be among them
                self.radio.new_link = False
                self._wait_for_phone(self.outbox.head())
            self._take_writes()
            head = self.outbox.head()
            self.radio.publish(head)
            timeout = None
            if self.radio.conn is None:
                if not self.radio.advertising:
                    self.radio.advertise()
            elif head is not None and self.radio.ready:
                timeout = self._send(head)
            guard = self.radio.police()  # a link that is not the bonded phone's ends
            if guard is not None:
                timeout = guard if timeout is None else min(timeout, guard)
            try:
                if timeout is None:
                    await self.radio.changed.wait()
                else:
                    await asyncio.wait_for_ms(self.radio.changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def _wait_for_phone(self, head):
        # As if the head had just been sent: the TIME write, or the first
        # re-send timer if the phone writes none, sends it.
        self._sent = None if head is None else _counter(head)
        self._retry_ms = _FIRST_RETRY_MS
        self._due = time.ticks_add(time.ticks_ms(), _FIRST_RETRY_MS)

    def _send(self, head):
        now = time.ticks_ms()
        counter = _counter(head)
        if counter != self._sent:
            self._retry_ms = _FIRST_RETRY_MS
        elif time.ticks_diff(self._due, now) > 0:
            return time.ticks_diff(self._due, now)
        try:
            self.radio.notify(head)
        except OSError as error:  # the link dropped under us; the IRQ follows
            print("msa: notify failed:", error)
        self._sent = counter
        self._due = time.ticks_add(now, self._retry_ms)
        wait = self._retry_ms
        self._retry_ms = min(self._retry_ms * 2, _MAX_RETRY_MS)
        return wait

    def _take_writes(self):
        writes = self.radio.writes
        while writes:
            data = writes.pop(0)
            try:
                control = frame.parse(data)
            except frame.FrameError as error:
                print("msa: ignored a bad control frame:", error)
                continue
            if control.device_id != self.device_id:
                continue
            if control.type == frame.ACK:
                if self.outbox.acknowledge(control.counter) and control.counter == self._sent:
                    self._sent = None
            elif control.type == frame.TIME:
                clock.set_unix(control.fields()["time_s"])
                self._sent = None  # the phone is subscribed: send now
