"""The 112 app's alarm path, emulated: frames from the button in, to the backend out.

For each frame the button notifies, the phone stores it in its outbox (on disk)
and only then writes the ACK that lets the button forget it; the forwarder
then delivers it to the backend with the phone's location. The phone stays
linked: when the button goes away (out of range, power cut) it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msa.app.forwarder import Forwarder
from msa.app.link import ButtonLink, LinkError
from msa.app.outbox import Outbox
from msa.timefmt import now_ms, to_iso
from protocol import frame

log = logging.getLogger(__name__)

RECONNECT_FIRST_S = 0.2
RECONNECT_MAX_S = 10.0
READ_POLL_S = 1.0  # when the MTU is too small for notifications (SPEC §6)
LINK_UP_S = 15.0  # connect, encrypt, discover, subscribe, TIME: longer is a stuck link


@dataclass
class Location:
    """The phone's position; the emulated phone stands still."""

    lat: float
    lon: float
    accuracy_m: float

    def current(self) -> dict[str, Any]:
        return {
            "lat": self.lat,
            "lon": self.lon,
            "accuracy_m": self.accuracy_m,
            "fix_at": to_iso(now_ms()),
        }


GHENT = Location(51.0543, 3.7174, 8.0)

Received = Callable[[frame.Frame, float], None]


class Phone:
    def __init__(
        self,
        link: ButtonLink,
        outbox: Outbox,
        forwarder: Forwarder,
        device_id: int,
        location: Location = GHENT,
    ) -> None:
        self.link = link
        self.outbox = outbox
        self.forwarder = forwarder
        self.device_id = device_id
        self.location = location
        self.on_received: Received | None = None  # for the hop timings
        self.linked = asyncio.Event()  # linked, secured and subscribed
        self._frames: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()

    async def pair(self) -> None:
        """The tech desk's step: bond this phone with the button, once."""
        await self.link.connect()
        try:
            await self.link.pair()
        finally:
            await self.link.disconnect()

    async def run(self) -> None:
        """Stay linked, acknowledge and forward, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._stay_linked())
            tasks.create_task(self._take_frames())
            tasks.create_task(self.forwarder.run())

    async def _stay_linked(self) -> None:
        delay = RECONNECT_FIRST_S
        while True:
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
                await self.link.write(frame.control(frame.TIME, self.device_id, 0, now))
        except TimeoutError:
            raise LinkError(
                f"the link to the button took over {LINK_UP_S:.0f} s; retrying"
            ) from None
        self.linked.set()
        log.info("linked to the button %s (MTU %d)", self.link.address, self.link.mtu)

    async def _poll_frames(self) -> None:
        while self.link.connected:
            data = await self.link.read()
            if data:
                self._on_notification(data)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.link.disconnected.wait(), READ_POLL_S)

    def _on_notification(self, data: bytes) -> None:
        # Called from the BLE stack's callback: record the time and hand over.
        self._frames.put_nowait((data, time.time()))

    async def _take_frames(self) -> None:
        while True:
            data, received_at = await self._frames.get()
            await self.accept(data, received_at)

    async def accept(self, data: bytes, received_at: float) -> None:
        """Store a frame from the button, then acknowledge it to the button."""
        try:
            received = frame.parse(data)
        except frame.FrameError as error:
            log.warning("ignored a malformed frame from the button: %s", error)
            return
        if not received.signed or received.device_id != self.device_id:
            log.warning("ignored %r: not a frame of device %08x", received, self.device_id)
            return
        self.outbox.put(received, self.location.current(), received_at)
        if self.on_received is not None:
            self.on_received(received, received_at)
        try:
            await self.link.write(frame.control(frame.ACK, received.device_id, received.counter))
        except LinkError as error:  # the button re-sends; the outbox takes it once
            log.warning("ACK for %d not delivered: %s", received.counter, error)
        self.forwarder.wake()
