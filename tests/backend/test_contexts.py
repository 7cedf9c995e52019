"""The cache of verified ingest contexts (msa.backend.contexts): it lets a revoked
key's heartbeats in for at most TTL_S (5 s), never longer, and never an alarm."""

from __future__ import annotations

from msa.backend.contexts import TTL_S, ContextCache
from protocol import frame
from tests.backend.util import DEVICE_ID, PHONE, body, signed

FRAMES = "/api/v1/frames"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_its_ttl_and_not_a_moment_longer():
    clock = Clock()
    cache = ContextCache(clock=clock)
    context = object()
    cache.put(("token", 1), context)  # type: ignore[arg-type]
    clock.now += TTL_S
    assert cache.get(("token", 1)) is context
    clock.now += 0.001
    assert cache.get(("token", 1)) is None


def test_a_full_cache_starts_again_empty():
    cache = ContextCache(max_entries=2)
    for n in range(3):
        cache.put(("token", n), object())  # type: ignore[arg-type]
    assert cache.get(("token", 0)) is None and cache.get(("token", 2)) is not None


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
