"""The push channel: committed alarms, handed at once to every console connected.

v1 is in-process: one bounded asyncio queue per subscriber. Publishing never
waits; a subscriber too slow to keep up is closed rather than buffered without
bound. That loses nothing: its console reconnects and is sent every open alarm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

Event = Mapping[str, Any]

QUEUE_LIMIT = 256


class Subscription(Protocol):
    async def get(self) -> Event | None:
        """The next event; None once the subscription is closed."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Subscription: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class PushChannel(Protocol):
    def publish(self, event: Event) -> None:
        """Hand `event` to every subscriber; never blocks."""
        ...

    def subscribe(self) -> Subscription:
        """Start receiving every event published from now on."""
        ...

    def close(self) -> None:
        """End every subscription (shutdown); later ones end at once."""
        ...


class LocalSubscription:
    def __init__(self, hub: LocalHub, limit: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(limit)
        self.closed = False

    def offer(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.close()

    async def get(self) -> Event | None:
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._hub.discard(self)
        # Wake a waiting reader with the end marker; what it had not read yet is
        # dropped (a reconnecting console is sent every open alarm again).
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    def __enter__(self) -> LocalSubscription:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class LocalHub:
    """A `PushChannel` within one process (one backend worker)."""

    def __init__(self, queue_limit: int = QUEUE_LIMIT) -> None:
        self._subscribers: set[LocalSubscription] = set()
        self._queue_limit = queue_limit
        self._closed = False

    def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            subscriber.offer(event)

    def subscribe(self) -> LocalSubscription:
        subscription = LocalSubscription(self, self._queue_limit)
        if self._closed:
            subscription.close()
        else:
            self._subscribers.add(subscription)
        return subscription

    def discard(self, subscription: LocalSubscription) -> None:
        self._subscribers.discard(subscription)

    def close(self) -> None:
        self._closed = True
        for subscriber in list(self._subscribers):
            subscriber.close()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
