"""What the backend stored, for the HIL cases that check telemetry end to end."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

from msa.demo.stack import Stack

COLUMNS = "counter, type, battery_mv, battery_pct, flags, uptime_s, received_at"


def frames(stack: Stack, kind: int) -> list[dict[str, Any]]:
    """The frames of one type the backend committed, in counter order (SQLite stacks)."""
    path = stack.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            f"SELECT {COLUMNS} FROM frames WHERE type = ? ORDER BY counter", (kind,)
        ).fetchall()
    return [dict(row) for row in rows]


async def wait_frames(
    stack: Stack, kind: int, count: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Wait until the backend holds at least `count` frames of `kind`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(found := frames(stack, kind)) < count:
        if loop.time() > deadline:
            raise TimeoutError(f"the backend has {len(found)} of {count} frames of type {kind}")
        await asyncio.sleep(0.05)  # a condition poll on the database, like Stack.settled
    return found


async def wait_frame(
    stack: Stack, kind: int, test: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    """Wait until the backend holds a frame of `kind` for which test(row) is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (found := [row for row in frames(stack, kind) if test(row)]):
        if loop.time() > deadline:
            raise TimeoutError(f"no frame of type {kind} passed the test: {frames(stack, kind)}")
        await asyncio.sleep(0.05)
    return found[0]
