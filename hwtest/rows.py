"""What the backend stored, for the HIL cases that check telemetry end to end, and
wait_until (msa.waiting's): the one condition poll the HIL cases share."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from hwtest.harness import Chain
from msa.waiting import wait_until
from protocol import frame

COLUMNS = "counter, type, battery_mv, battery_pct, flags, uptime_s, received_at"


def frames(stack: Chain, kind: int) -> list[dict[str, Any]]:
    """The frames of one type the backend committed, in counter order (SQLite stacks)."""
    path = stack.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            f"SELECT {COLUMNS} FROM frames WHERE type = ? ORDER BY counter", (kind,)
        ).fetchall()
    return [dict(row) for row in rows]


async def wait_frames(
    stack: Chain, kind: int, count: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Wait until the backend holds at least `count` frames of `kind`."""
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        found[:] = frames(stack, kind)
        return len(found) >= count

    await wait_until(
        enough,
        timeout,
        lambda: f"{count} frames of type {kind} in the backend (it has {len(found)})",
        every=0.05,  # a query on the database, like Chain.settled's
    )
    return found


async def wait_frame(
    stack: Chain, kind: int, test: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    """Wait until the backend holds a frame of `kind` for which test(row) is true."""
    passed: list[dict[str, Any]] = []

    def found() -> bool:
        rows = frames(stack, kind)
        passed[:] = [row for row in rows if test(row)]
        return bool(passed)

    await wait_until(
        found,
        timeout,
        lambda: f"a frame of type {kind} that passes the test: {frames(stack, kind)}",
        every=0.05,
    )
    return passed[0]


def alarm_frames(stack: Chain) -> list[frame.Frame]:
    """The alarm frames the backend committed, parsed from their stored bytes."""
    path = stack.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT raw FROM frames WHERE type = ? ORDER BY counter", (frame.ALARM,)
        ).fetchall()
    return [frame.parse(bytes(raw)) for (raw,) in rows]


def presses_delivered(stack: Chain) -> int:
    """The presses the committed alarms stand for (SPEC §3.1: an older alarm is one)."""
    return sum(f.fields()["presses"] or 1 for f in alarm_frames(stack))
