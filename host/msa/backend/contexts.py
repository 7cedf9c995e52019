"""Heartbeats skip the token lookup: the ingest context of a (phone token, device)
that verified a frame is kept for a few seconds.

Only routine frames use it; an alarm always reads the database (its person and
case must be today's). A cached context is used only when the frame verifies
with it; anything else is looked up again, so the cache never refuses a good
frame, and delays a revocation (re-provisioning) by at most `ttl_s`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from msa.backend.store.base import Device, IngestContext

TTL_S = 5.0
MAX_ENTRIES = 200_000  # a national fleet's phones; past that it starts again empty

Key = tuple[str, int]  # (token's SHA-256, device id)


class ContextCache:
    """Entries oldest first; a put evicts those past `ttl_s`. Each is kept as a flat
    tuple of plain values, which CPython's cyclic GC stops tracking: a national
    fleet's minute of heartbeats (100,000 contexts, once kept as dataclasses until
    200,000 cleared them) made each full collection a pause of tens of ms, which is
    what an alarm waited for at the flood's p99."""

    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Key, tuple[Any, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> IngestContext | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry[0] > self.ttl_s:
            del self._entries[key]
            return None
        return _unpack(entry)

    def put(self, key: Key, context: IngestContext) -> None:
        now = self.clock()
        entries = self._entries
        entries.pop(key, None)  # to the end: the entries stay in the order they were put
        while entries and (len(entries) >= self.max_entries or now - _oldest(entries) > self.ttl_s):
            entries.popitem(last=False)
        entries[key] = _pack(now, context)


def _oldest(entries: OrderedDict[Key, tuple[Any, ...]]) -> float:
    return next(iter(entries.values()))[0]


def _pack(at: float, context: IngestContext) -> tuple[Any, ...]:
    d = context.device
    device = () if d is None else (d.device_id, d.mac_key, d.status, d.epoch, d.key_status)
    c = context
    return (at, c.phone_id, c.linked_device_id, c.person_id, c.case_id, c.token_epoch, *device)


def _unpack(entry: tuple[Any, ...]) -> IngestContext:
    device = Device(*entry[6:]) if len(entry) > 6 else None
    return IngestContext(entry[1], entry[2], device, entry[3], entry[4], entry[5])
