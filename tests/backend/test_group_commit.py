"""Group commit: routine frames arriving together share a transaction, and each
caller still learns its own frame's outcome, only after it committed."""

from __future__ import annotations

import asyncio

import pytest

from msa.backend.store import StoreUnavailable
from msa.backend.store.group_commit import GroupCommit
from tests.backend.conftest import seed
from tests.backend.test_store import new_frame
from tests.backend.util import signed


class Recorder:
    """A commit function that records its groups and can be held at the door."""

    def __init__(self, refuse: set[int] | None = None, unavailable: bool = False) -> None:
        self.groups: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.refuse = refuse or set()
        self.unavailable = unavailable

    async def __call__(self, items: list[int]) -> list[str]:
        self.groups.append(list(items))
        await self.gate.wait()
        if self.unavailable:
            raise StoreUnavailable("the database is down")
        if self.refuse & set(items):
            raise ValueError(f"refused {sorted(self.refuse & set(items))}")
        return [f"done {item}" for item in items]


async def test_a_lone_item_is_committed_at_once_in_a_group_of_its_own():
    commit = Recorder()
    assert await GroupCommit(commit).submit(1) == "done 1"
    assert commit.groups == [[1]]


async def test_items_arriving_during_a_commit_go_together_in_the_next():
    commit = Recorder()
    commit.gate.clear()
    group = GroupCommit(commit)
    first = asyncio.create_task(group.submit(0))
    while not commit.groups:  # the first group is at the database
        await asyncio.sleep(0)
    rest = [asyncio.create_task(group.submit(n)) for n in range(1, 10)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in [first, *rest]), "answered before the commit"
    commit.gate.set()
    assert await asyncio.gather(first, *rest) == [f"done {n}" for n in range(10)]
    assert commit.groups == [[0], list(range(1, 10))]
    assert group.groups == 2


async def submit_while_held(group: GroupCommit, commit: Recorder, items: range) -> list:
    """Submit `items` while the database is held at the door, let it go once the
    first group is there, and return every outcome (results and errors)."""
    commit.gate.clear()
    tasks = [asyncio.create_task(group.submit(n)) for n in items]
    while not commit.groups:  # the first group is at the database
        await asyncio.sleep(0)
    commit.gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_group_is_never_larger_than_its_limit():
    commit = Recorder()
    results = await submit_while_held(GroupCommit(commit, max_group=4), commit, range(10))
    assert results == [f"done {n}" for n in range(10)]
    assert [len(g) for g in commit.groups] == [4, 4, 2]


async def test_a_frame_the_database_refuses_fails_alone():
    commit = Recorder(refuse={3})
    results = await submit_while_held(GroupCommit(commit), commit, range(5))
    assert isinstance(results[3], ValueError)
    assert [r for n, r in enumerate(results) if n != 3] == ["done 0", "done 1", "done 2", "done 4"]


async def test_an_unavailable_database_fails_the_whole_group_without_retrying_each():
    commit = Recorder(unavailable=True)
    results = await submit_while_held(GroupCommit(commit), commit, range(3))
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert commit.groups == [[0, 1, 2]]


async def test_closing_fails_what_is_still_waiting_instead_of_hanging():
    commit = Recorder()
    commit.gate.clear()
    group = GroupCommit(commit)
    tasks = [asyncio.create_task(group.submit(n)) for n in range(3)]
    while not commit.groups:
        await asyncio.sleep(0)
    assert group._committer is not None
    group._committer.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)


async def test_concurrent_heartbeats_share_transactions_and_each_is_stored_once(store):
    await seed(store)
    frames = [await new_frame(store, n, raw=signed(n), alarm=False) for n in range(1, 41)]
    twice = frames + frames[:10]  # ten sent again in the same burst: duplicates
    commits = await asyncio.gather(*(store.commit_frame(f) for f in twice))
    outcomes = [c.outcome for c in commits]
    assert outcomes.count("committed") == 40 and outcomes.count("duplicate") == 10
    for first, again in zip(commits[:10], commits[40:], strict=True):
        assert again.frame_id == first.frame_id
    assert (await store.counts())["frames"] == 40
    assert store._routine_frames.groups < 40  # noqa: SLF001 (shared, or it is no group commit)


@pytest.mark.parametrize("reused", [1, 20])
async def test_a_reused_counter_in_a_group_is_refused_and_the_rest_stored(store, reused):
    await seed(store)
    frames = [await new_frame(store, n, raw=signed(n), alarm=False) for n in range(1, 21)]
    other = await new_frame(store, reused, raw=signed(reused, battery_mv=1), alarm=False)
    commits = await asyncio.gather(*(store.commit_frame(f) for f in [*frames, other]))
    assert commits[-1].outcome == "counter_reused"
    assert [c.outcome for c in commits[:-1]] == ["committed"] * 20
    assert (await store.counts())["frames"] == 20
