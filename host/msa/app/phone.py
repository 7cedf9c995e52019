"""The 112 app's alarm path, emulated: frames from the button in, to the backend out.

For each frame the button notifies, the phone stores it in its outbox (on disk)
and only then writes the ACK ("stored: offer me the next one"); the forwarder then
delivers it to the backend with the phone's location. The backend's receipt goes
back to the button as a `receipt` control frame, and only that makes the button
forget the frame (protocol/SPEC.md §1, §5.1); the phone deletes the frame once the
receipt is written. A frame the button offers again is answered the same way: its
ACK, and its receipt once the phone has it. The phone stays linked: when the
button goes away (out of range, power cut) it reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from msa.app.forwarder import Forwarder
from msa.app.link import ButtonLink, LinkError
from msa.app.location import GHENT, Location
from msa.app.outbox import Entry, Outbox
from msa.app.reports import PhoneReports
from msa.waiting import all_cancelled, within
from protocol import frame

log = logging.getLogger(__name__)

RECONNECT_FIRST_S = 0.2
RECONNECT_MAX_S = 10.0
READ_POLL_S = 1.0  # when the MTU is too small for notifications (SPEC §6)
LINK_UP_S = 15.0  # connect, encrypt, discover, subscribe, TIME: longer is a stuck link
RECEIPTS_AT_ONCE = 50  # read from the outbox per round of receipt writes


Received = Callable[[frame.Frame, float], None]


class Phone:
    def __init__(
        self,
        link: ButtonLink,
        outbox: Outbox,
        forwarder: Forwarder,
        device_id: int,
        location: Location = GHENT,
        reports: PhoneReports | None = None,
    ) -> None:
        """`reports`: the phone's check-ins, link reports and alarm trail (none: it
        only relays frames, as a bench's phone does)."""
        self.link = link
        self.outbox = outbox
        self.forwarder = forwarder
        self.device_id = device_id
        self.location = location
        self.reports = reports
        self.bluetooth = asyncio.Event()  # on: the phone may link to the button
        self.bluetooth.set()
        self._bluetooth_off_at: float | None = None
        self.on_received: Received | None = None  # for the hop timings
        self.linked = asyncio.Event()  # linked, secured and subscribed
        self.links = 0  # how many times it linked up
        self._to_ack: collections.deque[frame.Frame] = collections.deque()  # stored
        self._ack_due = asyncio.Event()
        self._receipts_due = asyncio.Event()  # receipts wait to be written to the button
        self._writing = asyncio.Lock()  # one control frame at a time on the link
        forwarder.on_delivered = self._delivered

    async def pair(self) -> None:
        """The tech desk's step: bond this phone with the button, once."""
        await self.link.connect()
        try:
            await self.link.pair()
        finally:
            await self.link.disconnect()

    async def run(self) -> None:
        """Stay linked, acknowledge and forward, until cancelled (or one part fails).

        Not a TaskGroup: it cancels its tasks once, and a task that swallowed that
        cancellation (Bumble's calls run 3.11's wait_for, gh-86296) would hold it
        for ever; `cancelled` cancels until each task has ended."""
        parts = [
            asyncio.create_task(self._stay_linked(), name="phone: link"),
            asyncio.create_task(self._take_frames(), name="phone: frames"),
            asyncio.create_task(self._hand_receipts(), name="phone: receipts"),
            asyncio.create_task(self.forwarder.run(), name="phone: forwarder"),
        ]
        if self.reports is not None:
            parts.append(asyncio.create_task(self.reports.run(), name="phone: reports"))
        try:
            done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_EXCEPTION)
            for part in done:
                part.result()  # the part that failed, failing run
        finally:
            await all_cancelled(parts)

    async def set_bluetooth(self, on: bool) -> None:
        """The victim turns Bluetooth off (the link drops and stays down) or on."""
        if on == self.bluetooth.is_set():
            return
        if on:
            self.bluetooth.set()
            if self.reports is not None and self._bluetooth_off_at is not None:
                self.reports.bluetooth_on(self._bluetooth_off_at)
            self._bluetooth_off_at = None
            return
        self.bluetooth.clear()
        self._bluetooth_off_at = time.time()
        if self.reports is not None:
            self.reports.bluetooth_off(self._bluetooth_off_at)
        await self.link.disconnect()

    async def _stay_linked(self) -> None:
        delay = RECONNECT_FIRST_S
        while True:
            await self.bluetooth.wait()
            try:
                await self._link_up()
                delay = RECONNECT_FIRST_S
                if self.link.mtu < frame.MIN_ATT_MTU:
                    await self._poll_frames()
                await self.link.disconnected.wait()
            except LinkError as error:
                log.warning("%s", error)
                await self.link.disconnect()
            finally:
                self.linked.clear()
            await asyncio.sleep(delay)  # reconnection back-off
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _link_up(self) -> None:
        try:
            async with asyncio.timeout(LINK_UP_S):
                await self.link.connect()
                await self.link.secure()
                await self.link.subscribe(self._on_notification)
                now = frame.time_payload(int(time.time()))
                await self._write(frame.control(frame.TIME, self.device_id, 0, now))
        except TimeoutError:
            raise LinkError(
                f"the link to the button took over {LINK_UP_S:.0f} s; retrying"
            ) from None
        self.links += 1
        self.linked.set()
        self._receipts_due.set()
        log.info("linked to the button %s (MTU %d)", self.link.address, self.link.mtu)

    async def _poll_frames(self) -> None:
        while self.link.connected:
            data = await self.link.read()
            if data:
                self._on_notification(data)
            with contextlib.suppress(TimeoutError):
                await within(self.link.disconnected.wait(), READ_POLL_S)

    def _on_notification(self, data: bytes) -> None:
        # Called from the BLE stack's callback: stored at once, so a frame never
        # waits for the link's writes (one write is a few connection events);
        # the ACK is queued for the writer.
        received = self.store(data, time.time())
        if received is not None:
            self._to_ack.append(received)
            self._ack_due.set()

    async def _take_frames(self) -> None:
        while True:
            await self._ack_due.wait()
            self._ack_due.clear()
            while self._to_ack:
                received = self._to_ack.popleft()
                # Offered again while its ACK waited: one ACK answers both.
                while self._to_ack and _same(self._to_ack[0], received):
                    self._to_ack.popleft()
                await self.acknowledge(received)

    async def accept(self, data: bytes, received_at: float) -> None:
        """Store a frame from the button, then acknowledge it to the button."""
        received = self.store(data, received_at)
        if received is not None:
            await self.acknowledge(received)

    def store(self, data: bytes, received_at: float) -> frame.Frame | None:
        """Keep a frame of our button in the outbox and wake the forwarder; None
        (and a warning) for anything else."""
        try:
            received = frame.parse(data)
        except frame.FrameError as error:
            log.warning("ignored a malformed frame from the button: %s", error)
            return None
        if not received.signed or received.device_id != self.device_id:
            log.warning("ignored %r: not a frame of device %08x", received, self.device_id)
            return None
        self.outbox.put(received, self.location.current(), received_at)
        self.forwarder.wake()  # stored: it goes to the backend, whatever the link does
        if self.on_received is not None:
            self.on_received(received, received_at)
        return received

    async def acknowledge(self, received: frame.Frame) -> None:
        """The ACK ("stored: offer me the next one"), and the receipt if we have it."""
        try:
            await self._write(frame.control(frame.ACK, received.device_id, received.counter))
        except LinkError as error:  # the button re-sends; the outbox takes it once
            log.warning("ACK for %d not delivered: %s", received.counter, error)
            return
        receipt = self.outbox.receipt(received.device_id, received.counter)
        if receipt is not None:  # offered again, and delivered: the button needs this
            await self._write_receipt(received.counter, receipt)

    # -- receipts ------------------------------------------------------------------

    def _delivered(self, entry: Entry, answer: dict[str, Any]) -> None:
        self._receipts_due.set()
        alarm_id = answer.get("alarm_id")
        if self.reports is not None and entry.is_alarm and isinstance(alarm_id, int):
            self.reports.follow(alarm_id)

    async def _hand_receipts(self) -> None:
        """Write the backend's receipts to the button whenever it is linked."""
        while True:
            await self._receipts_due.wait()
            self._receipts_due.clear()
            while self.linked.is_set():
                waiting = self.outbox.receipts(self.device_id, RECEIPTS_AT_ONCE)
                written = [await self._write_receipt(c, r) for c, r in waiting]
                if not all(written) or len(waiting) < RECEIPTS_AT_ONCE:
                    break

    async def _write_receipt(self, counter: int, receipt: bytes) -> bool:
        """Write one receipt; the frame leaves the outbox only once it is written."""
        try:
            await self._write(frame.control(frame.RECEIPT, self.device_id, counter, receipt))
        except LinkError as error:  # written at the next link-up, or when it is offered again
            log.warning("receipt for %d not delivered: %s", counter, error)
            return False
        self.outbox.receipted(self.device_id, counter)
        return True

    async def _write(self, data: bytes) -> None:
        async with self._writing:
            await self.link.write(data)


def _same(a: frame.Frame, b: frame.Frame) -> bool:
    return (a.device_id, a.counter) == (b.device_id, b.counter)
