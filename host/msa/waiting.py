"""Bounded waits and cancellations that cannot be lost.

Python 3.11's `asyncio.wait_for` drops a cancellation that arrives as the awaited
future completes (gh-86296, fixed in 3.12): the cancelled task carries on, and a
loop in it runs for ever. A CI run hung 300 s in a teardown that way, cancelling a
phone whose forwarder was waking every second. `asyncio.timeout` has no such
window, so `within` is wait_for built on it; ruff bans `asyncio.wait_for` here.
Third-party code (Bumble) still uses wait_for, so a task that runs it is ended
with `cancelled`, which cancels until the task has ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

CANCEL_AGAIN_S = 0.05


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """`await awaitable`, or TimeoutError after `seconds` (None: no bound)."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str | Callable[[], str],
    every: float = 0.01,
) -> None:
    """Poll condition() until it is true; on timeout raise TimeoutError saying what
    did not happen (a callable `what` is asked then, to tell the state at that time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"not within {timeout:g} s: {what() if callable(what) else what}")
        await asyncio.sleep(every)  # a condition poll, like Console.expect


async def cancelled(task: asyncio.Future[T] | None) -> None:
    """Cancel `task` and return once it has ended, however it ends.

    Whatever the task raised on its way out is logged, not raised: the caller
    wanted it gone, and its teardown goes on.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_AGAIN_S)
    if not task.cancelled() and task.exception() is not None:
        log.debug("%r ended with %r", task, task.exception())


async def all_cancelled(tasks: Iterable[asyncio.Future[T]]) -> None:
    """Cancel every one of `tasks` and return once all have ended, even when the
    caller is cancelled meanwhile: `cancelled` cancels a task again and again,
    and a teardown in its `finally` that stopped at the first of its parts would
    leave the others running. The caller's own cancellation is raised at the end.
    """
    ending = asyncio.gather(*(cancelled(task) for task in tasks))
    interrupted = False
    while not ending.done():
        try:
            await asyncio.shield(ending)
        except asyncio.CancelledError:
            interrupted = True
    if interrupted:
        raise asyncio.CancelledError
