"""Teardown that always releases everything, whatever raised before it."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None] | None]


async def release(*steps: Step) -> None:
    """Run every step in order, even after one raised; then raise the first error.

    A teardown that stops at its first failure leaves a board's interpreter, a
    backend or a socket behind, and the next test inherits them.
    """
    first: BaseException | None = None
    for step in steps:
        try:
            result = step()
            if inspect.isawaitable(result):
                await result
        except BaseException as error:  # noqa: BLE001 (re-raised below)
            if first is None:
                first = error
            else:
                log.error("teardown step %s also failed: %r", _name(step), error)
    if first is not None:
        raise first


def _name(step: Step) -> str:
    return getattr(step, "__qualname__", repr(step))
