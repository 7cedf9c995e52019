"""The cache of verified ingest contexts (msa.backend.contexts): it lets a revoked
key's heartbeats in for at most TTL_S (5 s), never longer, and never an alarm."""

from __future__ import annotations

import gc

from msa.backend.contexts import TTL_S, ContextCache
from msa.backend.store.base import Device, IngestContext
from protocol import frame
from tests.backend.util import DEVICE_ID, PHONE, body, signed

FRAMES = "/api/v1/frames"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CONTEXT = IngestContext(7, 11, Device(11, bytes(32), "active", 0, "active"), 3, 2, 0)


def test_an_entry_lives_its_ttl_and_not_a_moment_longer():
    clock = Clock()
    cache = ContextCache(clock=clock)
    cache.put(("token", 1), CONTEXT)
    clock.now += TTL_S
    assert cache.get(("token", 1)) == CONTEXT
    clock.now += 0.001
    assert cache.get(("token", 1)) is None


def test_a_full_cache_drops_its_oldest_entry():
    cache = ContextCache(max_entries=2)
    for n in range(3):
        cache.put(("token", n), CONTEXT)
    assert cache.get(("token", 0)) is None and cache.get(("token", 2)) == CONTEXT
    assert len(cache) == 2


def test_entries_past_their_ttl_leave_when_new_ones_come():
    clock = Clock()
    cache = ContextCache(clock=clock)
    for n in range(1000):  # a fleet's heartbeats, each button once
        cache.put(("token", n), CONTEXT)
        clock.now += 0.01
    assert len(cache) == int(TTL_S / 0.01) + 1  # the last TTL_S of them, not 1,000
    assert cache.get(("token", 999)) == CONTEXT


def test_entries_are_left_alone_by_the_cyclic_gc():
    # 100,000 tracked entries made every full collection a pause an alarm waited for.
    cache = ContextCache()
    for n in range(100):
        cache.put(("token", n), CONTEXT if n % 2 else IngestContext(7, None, None, 3, 2, 0))
    gc.collect()
    assert not any(gc.is_tracked(entry) for entry in cache._entries.values())
    assert cache.get(("token", 1)) == CONTEXT


async def test_a_revoked_keys_heartbeats_are_refused_once_the_bound_has_passed(backend):
    clock = Clock()
    backend.app.state.contexts = ContextCache(clock=clock)

    async def beat(counter: int):
        data = body(signed(counter, frame.HEARTBEAT))
        return await backend.client.post(FRAMES, json=data, headers=PHONE)

    assert (await beat(1)).json()["status"] == "committed"  # its context is cached now
    assert await backend.store.revoke_key(DEVICE_ID, 0)
    # Within the bound the cache may still let a heartbeat in (documented) ...
    assert (await beat(2)).status_code == 200
    # ... but never an alarm, which always reads the database ...
    press = await backend.client.post(FRAMES, json=body(signed(3)), headers=PHONE)
    assert press.status_code == 403 and press.json()["error"] == "key_revoked"
    # ... and past the bound, nothing.
    clock.now += TTL_S + 0.001
    refused = await beat(4)
    assert refused.status_code == 403 and refused.json()["error"] == "key_revoked"
