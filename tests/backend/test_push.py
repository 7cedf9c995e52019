"""The in-process push channel: fast for all, and a slow console cannot hold it up."""

from __future__ import annotations

from msa.backend.push import LocalHub


async def test_every_subscriber_gets_every_event_in_order():
    hub = LocalHub()
    with hub.subscribe() as first, hub.subscribe() as second:
        for n in range(3):
            hub.publish({"n": n})
        for subscription in (first, second):
            assert [(await subscription.get())["n"] for _ in range(3)] == [0, 1, 2]
    assert hub.subscriber_count == 0


async def test_a_subscriber_that_falls_behind_is_closed_and_the_others_go_on():
    hub = LocalHub(queue_limit=2)
    with hub.subscribe() as slow, hub.subscribe() as fast:
        received = []
        for n in range(5):
            hub.publish({"n": n})
            received.append((await fast.get())["n"])
        assert received == [0, 1, 2, 3, 4]
        assert await slow.get() is None  # closed: its console reconnects and catches up
        assert hub.subscriber_count == 1


async def test_closing_the_hub_ends_every_subscription():
    hub = LocalHub()
    subscription = hub.subscribe()
    hub.publish({"n": 1})
    hub.close()
    assert await subscription.get() is None
    assert await hub.subscribe().get() is None
