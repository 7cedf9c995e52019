"""Group commit: routine frames that arrive together share one transaction.

A durable commit costs a flush to disk (SQLite's WAL fsync, PostgreSQL's WAL
flush) and, on both drivers, a hop to another thread or server. Under a heartbeat
flood most of a frame's cost is that commit, so the frames that arrive while
one commit is under way wait for the next and go in together. Nothing waits on
purpose: a lone frame is committed at once. Each caller still gets its answer
only after the transaction holding its frame committed.

If a group fails for a reason other than the database being unavailable (a
frame the SQL refuses), its frames are committed one by one, so that one bad
frame fails alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from msa.backend.store.base import StoreUnavailable

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_GROUP = 32


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        commit: Callable[[list[Item]], Awaitable[list[Result]]],
        max_group: int = MAX_GROUP,
    ) -> None:
        self._commit = commit
        self.max_group = max_group
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._committer: asyncio.Task[None] | None = None
        self.groups = 0  # groups committed (the tests check that frames share them)

    async def submit(self, item: Item) -> Result:
        """Commit `item` with whatever else is waiting; return once it is committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
        return await future

    async def drain(self) -> None:
        """Wait until every submitted item has been committed or has failed."""
        while self._committer is not None and not self._committer.done():
            await asyncio.wait({self._committer})

    async def _commit_waiting(self) -> None:
        group: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                group = self._waiting[: self.max_group]
                del self._waiting[: self.max_group]
                await self._commit_group(group)
        except asyncio.CancelledError:  # the store is closing under them
            gone = StoreUnavailable("the database closed before these frames were committed")
            for _, future in group + self._waiting:
                _settle(future, error=gone)
            self._waiting.clear()
            raise

    async def _commit_group(self, group: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._commit([item for item, _ in group])
        except StoreUnavailable as error:
            for _, future in group:
                _settle(future, error=error)
        except Exception as error:
            if len(group) == 1:
                _settle(group[0][1], error=error)
            else:
                for one in group:
                    await self._commit_group([one])
        else:
            self.groups += 1
            for (_, future), result in zip(group, results, strict=True):
                _settle(future, result=result)


def _settle(
    future: asyncio.Future[Result], result: Result | None = None, error: Exception | None = None
) -> None:
    if future.done():  # its caller went away (a closed request); the item is committed anyway
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
