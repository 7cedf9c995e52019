"""What the emulated radio did, counted as a real radio spends its charge.

A BLE radio sleeps between events. Its charge goes to advertising events (one every
advertising interval while it advertises), connection events (one every interval,
or every `1 + peripheral latency` intervals for a peripheral with nothing to send)
and the extra air time of each notification. On the timed air
(boards/emulated/timed_air.py) the events are counted as the air runs them; on
the instant air, which has no radio timing, they are derived from the intervals in
force and the time spent advertising or connected. Notifications are counted as the
firmware sends them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Advertising events; connection events listened at, and those woken for to send.
EventCounts = Callable[[], tuple[int, tuple[int, int]]]


@dataclass
class Span:
    """A stretch of time under one interval: advertising, or one link's parameters."""

    started: float
    interval_ms: float
    latency: int = 0

    def events(self, until: float) -> float:
        return (until - self.started) * 1000 / (self.interval_ms * (1 + self.latency))


@dataclass
class RadioStats:
    """One power-up's radio: time, events and notifications (see the module docstring)."""

    advertising_ms: float = 0.0
    advertising_events_done: float = 0.0
    advertising_interval_ms: float | None = None
    connections: int = 0
    connected_ms: float = 0.0
    connection_events_done: float = 0.0
    connection_interval_ms: float | None = None
    peripheral_latency: int | None = None
    notifications: int = 0
    rpa_rotations: int = 0
    last_notify: tuple[float, bytes] | None = None
    adv_data: list[bytes] = field(default_factory=list)
    _advertising: Span | None = None
    _links: dict[int, Span] = field(default_factory=dict)
    counted: EventCounts | None = None  # the timed air's own counts, while powered
    _final_counts: tuple[int, tuple[int, int]] | None = None

    def count_on(self, counts: EventCounts) -> None:
        """The air counts this power-up's events (the timed air)."""
        self.counted = counts

    # -- what the radio reports ------------------------------------------------

    def advertising_started(self, interval_ms: float) -> None:
        self.advertising_stopped()
        self.advertising_interval_ms = interval_ms
        self._advertising = Span(time.monotonic(), interval_ms)

    def advertising_stopped(self) -> None:
        span, self._advertising = self._advertising, None
        if span is not None:
            now = time.monotonic()
            self.advertising_ms += (now - span.started) * 1000
            self.advertising_events_done += span.events(now)

    def link_up(self, handle: int, interval_ms: float, latency: int) -> None:
        self.connections += 1
        self._links[handle] = Span(time.monotonic(), interval_ms, latency)
        self.connection_interval_ms, self.peripheral_latency = interval_ms, latency

    def link_updated(self, handle: int, interval_ms: float, latency: int) -> None:
        if handle in self._links:
            self._close_link(handle)
            self._links[handle] = Span(time.monotonic(), interval_ms, latency)
            self.connection_interval_ms, self.peripheral_latency = interval_ms, latency

    def link_down(self, handle: int) -> None:
        if handle in self._links:
            self._close_link(handle)

    def _close_link(self, handle: int) -> None:
        span = self._links.pop(handle)
        now = time.monotonic()
        self.connected_ms += (now - span.started) * 1000
        self.connection_events_done += span.events(now)

    def closed(self) -> None:
        """The power went: every open span ends now."""
        if self.counted is not None:
            self._final_counts, self.counted = self.counted(), None
        self.advertising_stopped()
        for handle in list(self._links):
            self._close_link(handle)

    # -- what the bench reads ----------------------------------------------------

    @property
    def advertising(self) -> bool:
        return self._advertising is not None

    def counters(self) -> dict[str, Any]:
        """Totals so far, open spans included up to now."""
        now = time.monotonic()
        adv_ms, adv_events = self.advertising_ms, self.advertising_events_done
        if self._advertising is not None:
            adv_ms += (now - self._advertising.started) * 1000
            adv_events += self._advertising.events(now)
        conn_ms, conn_events = self.connected_ms, self.connection_events_done
        for span in self._links.values():
            conn_ms += (now - span.started) * 1000
            conn_events += span.events(now)
        events, woken = "derived", 0
        counts = self.counted() if self.counted is not None else self._final_counts
        if counts is not None:
            # The listening events are the link's own cost; the events woken for a
            # frame are part of what a frame costs (a profile's frame_uc).
            events = "counted"
            adv_events, (conn_events, woken) = counts
        return {
            "events": events,
            "advertising_s": adv_ms / 1000,
            "advertising_events": adv_events,
            "connected_s": conn_ms / 1000,
            "connection_events": conn_events,
            "woken_to_send": woken,
            "notifications": self.notifications,
            "connections": self.connections,
            "rpa_rotations": self.rpa_rotations,
            "advertising_interval_ms": self.advertising_interval_ms,
            "connection_interval_ms": self.connection_interval_ms,
            "peripheral_latency": self.peripheral_latency,
        }


def total(counters: list[dict[str, Any]]) -> dict[str, Any]:
    """Counters of several power-ups added up; the intervals are the last ones seen."""
    summed: dict[str, Any] = {}
    for one in counters:
        for key, value in one.items():
            if key == "events":
                summed[key] = value
            elif key.endswith(("_interval_ms", "_latency")):
                summed[key] = value if value is not None else summed.get(key)
            else:
                summed[key] = summed.get(key, 0) + value
    for key in ("advertising_events", "connection_events"):
        if key in summed:
            summed[key] = round(summed[key], 1)
    for key in ("advertising_s", "connected_s"):
        if key in summed:
            summed[key] = round(summed[key], 3)
    return summed
