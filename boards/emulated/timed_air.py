"""An air that keeps a link layer's time (Core Vol 6 Part B, 4.5).

Bumble's `LocalLink` hands a packet to the peer at once: a notification crosses
in well under a millisecond, whatever the connection parameters. On a real link
the two radios meet only at connection events, one every connection interval;
a peripheral with nothing to send may sleep through `peripheral latency` events
in a row. `TimedAir` holds each packet until the event that carries it:

- peripheral -> central: the next connection event (a peripheral with data
  wakes for any event);
- central -> peripheral: the next event the peripheral listens at (every
  `1 + latency` events, or one it woke for with data of its own).

Link-layer control PDUs wait the same way, so a connection update takes effect
when it reaches the peripheral. A link whose peer vanished (power cut, out of
range) ends after the supervision timeout rather than at once. Advertising runs
at its interval plus the random advDelay of 0-10 ms (Vol 6 Part B, 4.4.2.2).

The events are counted as they pass: the battery bench reads `events()` rather
than deriving them from the time spent connected.
"""

from __future__ import annotations

import asyncio
import collections
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from bumble import hci, ll
from bumble.controller import AdvertisingSet, Connection, Controller, LegacyAdvertiser
from bumble.core import PhysicalTransport

from boards.emulated.air import CONNECTION_TIMEOUT, Air, _name

ADV_DELAY_MAX_S = 0.010  # advDelay: a pseudo-random 0-10 ms added to each interval
TRANSMIT_WINDOW_S = 0.00125  # the first event follows CONNECT_IND by transmitWindowDelay
UNIT_INTERVAL_S = 0.00125  # connInterval in 1.25 ms units
UNIT_TIMEOUT_S = 0.010  # connSupervisionTimeout in 10 ms units
UNIT_ADVERTISING_S = 0.000625  # advInterval in 0.625 ms units


@dataclass
class LinkClock:
    """One link's connection events, and the ones its peripheral attended."""

    central: str
    peripheral: Controller | None
    anchor: float  # loop time of event 0 under the current parameters
    interval_s: float
    latency: int
    timeout_s: float
    listened_before: int = 0  # listening events under earlier parameters
    extra_before: int = 0
    extra: int = 0  # events attended beyond every (1 + latency)-th, to send data
    _last_woken: int = -1
    to_central: collections.deque[tuple[float, Callable[[], None]]] = field(
        default_factory=collections.deque
    )
    to_peripheral: collections.deque[tuple[float, Callable[[], None]]] = field(
        default_factory=collections.deque
    )

    def next_event(self, now: float) -> int:
        return max(0, math.floor((now - self.anchor) / self.interval_s) + 1)

    def time_of(self, event: int) -> float:
        return self.anchor + event * self.interval_s

    def due(self, now: float, from_central: bool) -> float:
        event = self.next_event(now)
        if from_central:
            every = 1 + self.latency
            listening = math.ceil(event / every) * every
            if self._last_woken >= event:
                listening = min(listening, self._last_woken)
            return self.time_of(listening)
        if event % (1 + self.latency) and event != self._last_woken:
            self.extra += 1
        self._last_woken = max(self._last_woken, event)
        return self.time_of(event)

    def listened(self, now: float) -> int:
        """The events the peripheral listens at whatever happens, up to `now`: every
        (1 + latency)-th one."""
        if now < self.anchor:
            return self.listened_before
        every_s = self.interval_s * (1 + self.latency)
        return self.listened_before + math.floor((now - self.anchor) / every_s) + 1

    def attended(self, now: float) -> int:
        """Events the peripheral's radio woke for, up to `now`: those it listens at,
        and those it woke for to send (`extra`)."""
        return self.listened(now) + self.extra_before + self.extra

    def update(self, now: float, interval_s: float, latency: int, timeout_s: float) -> None:
        """New parameters from the event at `now` on (the update's instant)."""
        self.listened_before = self.listened(now)
        self.extra_before += self.extra
        self.extra, self._last_woken = 0, -1
        self.anchor, self.interval_s, self.latency, self.timeout_s = (
            now,
            interval_s,
            latency,
            timeout_s,
        )


def _advertising_delay(controller: Controller) -> float:
    """The next event's delay past the interval, counting the event just sent."""
    air = controller.link
    assert isinstance(air, TimedAir)
    air.advertised[controller] += 1
    return air.rng.uniform(0, ADV_DELAY_MAX_S)


class TimedLegacyAdvertiser(LegacyAdvertiser):
    """Bumble's legacy advertiser on the air's clock (Bumble's own reads the
    interval's 0.625 ms units as ms): advInterval + advDelay, counted."""

    def _on_timer_fired(self) -> None:
        if not self.enabled:
            return
        self.send_advertising_data()
        interval_s = self.advertising_interval_min * UNIT_ADVERTISING_S
        self.timer_handle = asyncio.get_running_loop().call_later(
            interval_s + _advertising_delay(self.controller), self._on_timer_fired
        )


class TimedAdvertisingSet(AdvertisingSet):
    """An extended advertising set (what Bumble's Device uses) on the air's clock."""

    def _on_extended_advertising_timer_fired(self) -> None:
        if not self.enabled:
            return
        self.send_extended_advertising_data()
        assert self.parameters is not None
        interval_s = self.parameters.primary_advertising_interval_min * UNIT_ADVERTISING_S
        self.timer_handle = asyncio.get_running_loop().call_later(
            interval_s + _advertising_delay(self.controller),
            self._on_extended_advertising_timer_fired,
        )


class _TimedSets(dict[int, AdvertisingSet]):
    """A controller's advertising sets: each one made runs on the air's clock."""

    def __setitem__(self, handle: int, advertising_set: AdvertisingSet) -> None:
        advertising_set.__class__ = TimedAdvertisingSet
        super().__setitem__(handle, advertising_set)


def _key(a: hci.Address | str, b: hci.Address | str) -> frozenset[str]:
    return frozenset((_name(a), _name(b)))


class TimedAir(Air):
    """The emulated air with connection events and advertising delays (see above)."""

    timed = True

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        self.rng = random.Random(seed)
        self.clocks: dict[frozenset[str], LinkClock] = {}
        self.advertised: collections.Counter[Controller] = collections.Counter()
        # Ended links' events, per peripheral: (listened, woken to send).
        self.ended: dict[Controller, tuple[int, int]] = {}

    def add_controller(self, controller: Controller) -> None:
        super().add_controller(controller)
        controller.le_legacy_advertiser.__class__ = TimedLegacyAdvertiser
        sets = _TimedSets()
        for handle, advertising_set in controller.advertising_sets.items():
            sets[handle] = advertising_set
        controller.advertising_sets = sets

    def advertising_events(self, controller: Controller) -> int:
        return self.advertised[controller]

    def connection_events(self, peripheral: Controller) -> tuple[int, int]:
        """`peripheral`'s connection events on its links, open ones up to now: those
        it listened at (every 1 + latency), and those it woke for to send."""
        now = asyncio.get_running_loop().time()
        listened, woken = self.ended.get(peripheral, (0, 0))
        for clock in self.clocks.values():
            if clock.peripheral is peripheral:
                listened += clock.listened(now)
                woken += clock.extra_before + clock.extra
        return listened, woken

    def _drop_clock(self, key: frozenset[str]) -> LinkClock | None:
        clock = self.clocks.pop(key, None)
        if clock is not None and clock.peripheral is not None:
            listened, woken = self.ended.get(clock.peripheral, (0, 0))
            self.ended[clock.peripheral] = (
                listened + clock.listened(asyncio.get_running_loop().time()),
                woken + clock.extra_before + clock.extra,
            )
        return clock

    # -- the link layer's clock --------------------------------------------------

    def send_advertising_pdu(self, sender: Controller, packet: ll.AdvertisingPdu) -> None:
        super().send_advertising_pdu(sender, packet)
        if isinstance(packet, ll.ConnectInd) and not self._is_away(sender):
            now = asyncio.get_running_loop().time()
            key = _key(packet.initiator_address, packet.advertiser_address)
            self._drop_clock(key)
            self.clocks[key] = LinkClock(
                central=_name(packet.initiator_address),
                peripheral=self.find_le_controller(packet.advertiser_address),
                anchor=now + TRANSMIT_WINDOW_S,
                interval_s=packet.interval * UNIT_INTERVAL_S,
                latency=packet.latency,
                timeout_s=packet.timeout * UNIT_TIMEOUT_S,
            )

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: PhysicalTransport,
        data: bytes,
    ) -> None:
        clock = self.clocks.get(_key(sender_controller.random_address, destination_address))
        if clock is None or transport != PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        self._at_event(
            clock,
            _name(sender_controller.random_address) == clock.central,
            lambda: Air.send_acl_data(
                self, sender_controller, destination_address, transport, data
            ),
        )

    def send_ll_control_pdu(
        self, sender_address: hci.Address, receiver_address: hci.Address, packet: ll.ControlPdu
    ) -> None:
        key = _key(sender_address, receiver_address)
        clock = self.clocks.get(key)
        if clock is None:
            super().send_ll_control_pdu(sender_address, receiver_address, packet)
            return

        def deliver() -> None:
            if isinstance(packet, ll.ConnectionUpdateInd):
                clock.update(
                    asyncio.get_running_loop().time(),
                    packet.interval * UNIT_INTERVAL_S,
                    packet.latency,
                    packet.timeout * UNIT_TIMEOUT_S,
                )
            if isinstance(packet, ll.TerminateInd):
                self._drop_clock(key)
            if self.find_le_controller(receiver_address) is not None:  # not powered off since
                Air.send_ll_control_pdu(self, sender_address, receiver_address, packet)

        self._at_event(clock, _name(sender_address) == clock.central, deliver)

    def _at_event(self, clock: LinkClock, from_central: bool, deliver: Callable[[], None]) -> None:
        # One FIFO per direction: packets of one event keep their order.
        loop = asyncio.get_running_loop()
        queue = clock.to_peripheral if from_central else clock.to_central
        due = max(clock.due(loop.time(), from_central), queue[-1][0] if queue else 0.0)
        queue.append((due, deliver))
        if len(queue) == 1:
            loop.call_at(due, self._flush, queue)

    def _flush(self, queue: collections.deque[tuple[float, Callable[[], None]]]) -> None:
        loop = asyncio.get_running_loop()
        while queue and queue[0][0] <= loop.time():
            _due, deliver = queue.popleft()
            deliver()
        if queue:
            loop.call_at(queue[0][0], self._flush, queue)

    # -- links that lose their peer end by the supervision timeout -------------------

    def _lose(self, controller: Controller, peer: hci.Address, connection: Connection) -> None:
        clock = self._drop_clock(_key(peer, connection.self_address))
        timeout = clock.timeout_s if clock is not None else 0.0
        asyncio.get_running_loop().call_later(timeout, self._time_out, controller, peer)

    @staticmethod
    def _time_out(controller: Controller, peer: hci.Address) -> None:
        connection = controller.le_connections.get(peer)
        if connection is not None:
            controller.on_le_disconnected(connection, CONNECTION_TIMEOUT)


AIRS = ("timed", "instant")


def air_named(name: str) -> Air:
    """The air called `name`: "timed" (this module's) or "instant" (the test suite's)."""
    if name not in AIRS:
        raise ValueError(f"unknown air {name!r}: use {' or '.join(AIRS)}")
    return TimedAir() if name == "timed" else Air()
