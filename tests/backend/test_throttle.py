"""The failed-log-in throttle on its own: a token bucket per source, on a fake clock."""

from __future__ import annotations

from msa.backend.throttle import FailureThrottle, source_key


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def test_a_source_gets_its_burst_then_one_try_per_share_of_a_minute():
    clock = Clock()
    throttle = FailureThrottle(burst=3, per_minute=6, clock=clock)  # a try every 10 s
    for _ in range(3):
        assert throttle.retry_after_s("192.0.2.1") is None
        throttle.failed("192.0.2.1")
    assert throttle.retry_after_s("192.0.2.1") == 10
    assert throttle.retry_after_s("192.0.2.2") is None  # another source is not held back
    clock.ms += 9_000
    assert throttle.retry_after_s("192.0.2.1") == 1
    clock.ms += 1_000
    assert throttle.retry_after_s("192.0.2.1") is None
    throttle.failed("192.0.2.1")
    assert throttle.retry_after_s("192.0.2.1") == 10


def test_a_clock_that_goes_back_gives_nothing_back():
    clock = Clock()
    throttle = FailureThrottle(burst=1, per_minute=1, clock=clock)
    throttle.failed("192.0.2.1")
    clock.ms -= 3_600_000
    assert throttle.retry_after_s("192.0.2.1") == 60


def test_an_ipv6_source_counts_by_its_64_and_a_mapped_ipv4_as_itself():
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::2")
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("unknown") == "unknown"
    throttle = FailureThrottle(burst=1, per_minute=1, clock=Clock())
    throttle.failed("2001:db8:1:2::1")
    assert throttle.retry_after_s("2001:db8:1:2::ffff") == 60


def test_it_remembers_a_bounded_number_of_sources():
    throttle = FailureThrottle(burst=1, per_minute=1, clock=Clock(), max_sources=2)
    for source in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        throttle.failed(source)
    assert throttle.retry_after_s("192.0.2.1") is None  # the oldest was forgotten
    assert throttle.retry_after_s("192.0.2.3") == 60
