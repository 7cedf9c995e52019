"""Instants as msa keeps them (epoch milliseconds) and speaks them (ISO 8601 UTC, ms)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def now_ms() -> int:
    """The current time in Unix epoch milliseconds."""
    return time.time_ns() // 1_000_000


def to_iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds: `2026-11-23T19:02:03.456Z`."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> int:
    """An ISO 8601 instant with a time zone (`Z` or `+01:00`) as epoch milliseconds.

    Raises ValueError, with a message fit for an error detail, for anything else.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; end it with Z for UTC")
    try:
        return (moment - _EPOCH) // _MS
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError(f"{text!r} is out of range") from None
