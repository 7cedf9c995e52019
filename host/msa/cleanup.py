"""Teardown that always releases everything, whatever raised before it."""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None] | None]

STEP_BOUND_S = 30.0


async def release(*steps: Step, bound_s: float = STEP_BOUND_S) -> None:
    """Run every step in order, even after one raised; then raise the first error.

    A teardown that stops at its first failure leaves a board's interpreter, a
    backend or a socket behind, and the next test inherits them. A step that does
    not end within `bound_s` fails as a TimeoutError naming it, and the steps after
    it (the ones that kill processes) still run.
    """
    first: BaseException | None = None
    for step in steps:
        bound = asyncio.timeout(bound_s)
        try:
            async with bound:
                result = step()
                if inspect.isawaitable(result):
                    await result
        except BaseException as raised:  # noqa: BLE001 (re-raised below)
            error = raised
            if bound.expired():
                error = TimeoutError(f"teardown step {_name(step)} hung for {bound_s:.0f} s")
                log.error("the tasks when %s hung:\n%s", _name(step), _task_stacks())
            if first is None:
                first = error
            log.error("teardown step %s failed: %r", _name(step), error)
    if first is not None:
        raise first


def _task_stacks() -> str:
    """Where every task of the loop is waiting: what a hung step waits for."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=out)
    return out.getvalue()


def _name(step: Step) -> str:
    return getattr(step, "__qualname__", repr(step))
