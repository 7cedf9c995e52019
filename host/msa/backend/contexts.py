"""Heartbeats skip the token lookup: the ingest context of a (phone token, device)
that verified a frame is kept for a few seconds.

Only routine frames use it; an alarm always reads the database (its person and
case must be today's). A cached context is used only when the frame verifies
with it; anything else is looked up again, so the cache never refuses a good
frame, and delays a revocation (re-provisioning) by at most `ttl_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from msa.backend.store.base import IngestContext

TTL_S = 5.0
MAX_ENTRIES = 200_000  # a national fleet's phones; past that it starts again empty

Key = tuple[str, int]  # (token's SHA-256, device id)


class ContextCache:
    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[Key, tuple[float, IngestContext]] = {}

    def get(self, key: Key) -> IngestContext | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry[0] > self.ttl_s:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: Key, context: IngestContext) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (self.clock(), context)
