# Delivers the outbox to the phone (protocol/SPEC.md §1, §6). The oldest frame
# not yet handed over is notified, re-sent with back-off until the phone writes
# its ACK; the ACK only hands it over (the offer moves on), and the frame stays
# in flash until the backend's receipt comes back through the phone. Frames
# handed over but not receipted are offered again: on every new link at once,
# and on the same link a while after the last ACK.
#
# The state is a few numbers, whatever the outbox holds: `_mark`, the counter the
# offer has reached (frames below it were acknowledged in this pass), and clocks.
# On a new link the phone subscribes, then writes TIME: that write is the signal
# to send at once (a notification before it would be lost).
import asyncio
import time

from micropython import const

from firmware import clock
from firmware.outbox import counter_of
from protocol import frame
from protocol.mac import equal

_MAX_RETRY_MS = const(30000)
_FIRST_REOFFER_MS = const(60000)
_MAX_REOFFER_MS = const(3600000)


def _counter(data):
    return int.from_bytes(data[6:10], "big")


class Sender:
    def __init__(self, radio, outbox, device_id, key):
        self.radio = radio
        self.outbox = outbox
        self.device_id = device_id
        self.key = key  # a MacKey: the receipts are checked with it
        self.on_offer = None  # called with each counter offered to the phone
        self.on_receipt = None  # called when a receipt freed a frame's room
        self._mark = 0
        self._sent = None  # counter of the frame last notified
        self._retry_ms = radio.first_retry_ms
        self._due = 0  # ticks_ms when the frame last notified is re-sent
        self._acked_ms = None  # ticks_ms of the last ACK on this link
        self._reoffer_ms = _FIRST_REOFFER_MS
        self._acked_top = 0  # the highest counter acknowledged since power-up
        self.waiting_since = None  # time.time() since the oldest handed frame waits

    def wake(self):
        self.radio.changed.set()

    async def run(self):
        while True:
            if self.radio.new_link:  # before the writes: its TIME may be among them
                self.radio.new_link = False
                self._mark = 0  # a new link: everything not receipted is offered again
                self._acked_ms = None
                self._reoffer_ms = _FIRST_REOFFER_MS
                self._wait_for_phone(self.outbox.head())
            self._take_writes()
            head = self.outbox.head(self._mark)
            data = None if head is None else self.outbox.read(head)
            self.radio.publish(data)
            timeout = None
            if self.radio.conn is None:
                if not self.radio.advertising:
                    self.radio.advertise()
            elif self.radio.ready:
                if data is not None:
                    if self.on_offer is not None:
                        self.on_offer(counter_of(head))
                    timeout = self._send(data)
                else:
                    timeout = self._reoffer()
            guard = self.radio.police()  # a link that is not the bonded phone's ends
            if guard is not None:
                timeout = guard if timeout is None else min(timeout, guard)
            if timeout == 0:
                continue
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
        self._sent = None if head is None else counter_of(head)
        self._retry_ms = self.radio.first_retry_ms
        self._due = time.ticks_add(time.ticks_ms(), self._retry_ms)

    def _send(self, head):
        now = time.ticks_ms()
        counter = _counter(head)
        if counter != self._sent:
            self._retry_ms = self.radio.first_retry_ms
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

    def _reoffer(self):
        # Everything was handed over. What still waits for its receipt is offered
        # again from the oldest, 60 s after the last ACK, then doubling to 1 h.
        if self._acked_ms is None or self.outbox.head() is None:
            return None
        left = time.ticks_diff(time.ticks_add(self._acked_ms, self._reoffer_ms), time.ticks_ms())
        if left > 0:
            return left
        print("msa: offering again the frames with no receipt")
        self._mark = 0
        self._acked_ms = None
        self._reoffer_ms = min(self._reoffer_ms * 2, _MAX_REOFFER_MS)
        return 0

    def unreceipted_s(self):
        """How long the oldest frame the phone acknowledged has waited for its receipt."""
        since = self.waiting_since
        return 0 if since is None else time.time() - since

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
                self._acknowledged(control.counter)
            elif control.type == frame.RECEIPT:
                self._receipted(control.counter, control.payload)
            elif control.type == frame.TIME:
                clock.set_unix(int.from_bytes(control.payload, "big"))
                self._sent = None  # the phone is subscribed: send now

    def _acknowledged(self, counter):
        # Handed over: the offer moves on; the frame stays until its receipt.
        if counter != self._sent:
            return
        self._sent = None
        self._mark = counter + 1
        self._acked_ms = time.ticks_ms()
        self._acked_top = max(self._acked_top, counter)
        if self.waiting_since is None:
            self.waiting_since = time.time()

    def _receipted(self, counter, receipt):
        name = self.outbox.find(counter)
        if name is None:  # replayed, or for a frame long forgotten
            print("msa: ignored a receipt for frame %d: not waiting" % counter)
            return
        if not equal(frame.receipt(self.key, self.outbox.read(name)[-16:]), receipt):
            print("msa: ignored a receipt for frame %d: not the backend's" % counter)
            return
        oldest = self.outbox.head()
        self.outbox.remove(name)
        if counter == self._sent:
            self._sent = None
        if name == oldest:  # the oldest waits no more: time the next one from now
            head = self.outbox.head()
            handed = head is not None and counter_of(head) <= self._acked_top
            self.waiting_since = time.time() if handed else None
        if self.on_receipt is not None:
            self.on_receipt()
