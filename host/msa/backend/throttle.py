"""Failed log-ins, throttled per source address: a token bucket per source.

Each source may fail `burst` times at once, then once more every
`60 / per_minute` seconds. A source with no try left is refused before its
credential is even looked at (429 with Retry-After). Only failures take a try:
an operator who logs in fine is never slowed down. An IPv6 source counts by its
/64 (what one machine may hold); at most `max_sources` buckets are kept, the
least recently failed ones forgotten first.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from msa.timefmt import now_ms

BURST = 5
PER_MINUTE = 5
MAX_SOURCES = 10_000


@dataclass(slots=True)
class _Bucket:
    tries: float
    at_ms: int


def source_key(address: str) -> str:
    """What a source is counted by: an IPv4 address, an IPv6 /64, else the text as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class FailureThrottle:
    def __init__(
        self,
        burst: int = BURST,
        per_minute: float = PER_MINUTE,
        *,
        clock: Callable[[], int] = now_ms,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        if burst < 1 or per_minute <= 0 or max_sources < 1:
            raise ValueError("a throttle needs burst >= 1, per_minute > 0, max_sources >= 1")
        self.burst = burst
        self.per_ms = per_minute / 60_000
        self.clock = clock
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def retry_after_s(self, source: str) -> int | None:
        """Whole seconds until `source` may try again; None when it may now."""
        bucket = self._refilled(source_key(source))
        if bucket is None or bucket.tries >= 1:
            return None
        return max(1, math.ceil((1 - bucket.tries) / self.per_ms / 1000))

    def failed(self, source: str) -> None:
        """Count a failure of `source` (a try taken from its bucket)."""
        key = source_key(source)
        bucket = self._refilled(key) or _Bucket(float(self.burst), self.clock())
        bucket.tries = max(0.0, bucket.tries - 1)
        self._buckets[key] = bucket
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)

    def _refilled(self, key: str) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        now = self.clock()
        bucket.tries = min(self.burst, bucket.tries + max(0, now - bucket.at_ms) * self.per_ms)
        bucket.at_ms = now
        if bucket.tries >= self.burst:  # as good as new: nothing to remember
            del self._buckets[key]
        return bucket
