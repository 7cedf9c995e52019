"""firmware/gesture.py on CPython: what each sequence of debounced edges means.

Times are milliseconds; `play` feeds edges and ticks every 10 ms, as the
button's task would, and returns the events with the time each came out.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import gesture
from firmware import settings as provisioning

KEY = "11" * 32


def make(armed: bool = False, **values) -> gesture.Gesture:
    out, problems = provisioning.check({"device_id": 1, "key": KEY, **values})
    assert problems == []
    return gesture.Gesture(provisioning.make(out), (lambda: armed) if armed is not None else None)


def play(g: gesture.Gesture, presses: list[tuple[int, int]], until: int | None = None):
    """presses: (down at, held for). Returns [(t, event)]."""
    edges = sorted([(t, "down") for t, _ in presses] + [(t + h, "up") for t, h in presses])
    end = until if until is not None else (edges[-1][0] + 20_000 if edges else 0)
    events = []
    for t in range(0, end + 1, 10):
        while edges and edges[0][0] <= t:
            _, kind = edges.pop(0)
            events += [(t, e) for e in (g.down(t) if kind == "down" else g.up(t))]
        events += [(t, e) for e in g.tick(t)]
    return events


def names(events):
    return [e for _, e in events]


def test_single_press_raises_at_once_and_a_bump_raises_nothing():
    assert play(make(), [(100, 150)]) == [(150, "alarm")]  # at press_ms, before release
    assert names(play(make(), [(100, 40)])) == []  # shorter than press_ms (50)


def test_a_held_button_gives_one_alarm_then_is_stuck_and_works_after_release():
    events = play(make(stuck_ms=8000), [(0, 20_000), (21_000, 100)])
    assert events == [(50, "alarm"), (8000, "stuck"), (20_000, "released"), (21_050, "alarm")]


def test_long_press_needs_the_whole_hold():
    g = make(pattern="long", hold_ms=2000)
    assert names(play(g, [(0, 1900)])) == []
    assert play(make(pattern="long", hold_ms=2000), [(0, 2500)]) == [(2000, "alarm")]


def test_multi_press_within_the_window():
    three = [(0, 100), (400, 100), (800, 100)]
    assert play(make(pattern="multi", presses=3, window_ms=2000), three) == [(850, "alarm")]


def test_multi_press_bumps_do_not_add_up_forever():
    # Three presses, but never three within 2 s of each other: nothing.
    spread = [(0, 100), (1500, 100), (3000, 100), (4500, 100), (6000, 100)]
    assert names(play(make(pattern="multi", presses=3, window_ms=2000), spread)) == []


def test_multi_press_too_short_presses_do_not_count():
    taps = [(0, 30), (200, 30), (400, 30)]
    assert names(play(make(pattern="multi", presses=3, window_ms=2000), taps)) == []


TEST = [(0, 4000), (4400, 150), (4950, 150)]  # what board.test_gesture() does


def test_the_test_gesture_gives_a_test_alarm_only_when_armed():
    assert names(play(make(armed=True), TEST)) == ["test_alarm"]
    # Not armed: the same gesture is a real alarm (the hold is a press).
    assert names(play(make(armed=False), TEST)) == ["alarm", "alarm", "alarm"]


@pytest.mark.parametrize(
    "presses",
    [
        [(0, 150)],  # a plain press
        [(0, 150), (400, 150), (800, 150)],  # panic: quick presses
        [(0, 9000)],  # panic: squeezed hard
        [(0, 4000)],  # a hold, then nothing
        [(0, 4000), (4400, 150)],  # one tap short
        [(0, 4000), (4400, 150), (4950, 150), (5500, 150)],  # one tap too many
        [(0, 4000), (7000, 150), (7500, 150)],  # too long a gap
        [(0, 2000), (2400, 150), (2950, 150)],  # too short a hold
    ],
)
def test_anything_but_the_exact_test_gesture_is_a_real_alarm_when_armed(presses):
    events = names(play(make(armed=True), presses))
    assert "test_alarm" not in events
    assert "alarm" in events


def test_armed_real_alarm_waits_only_while_it_may_still_be_the_test():
    # A short press cannot be the test's 3 s hold: the alarm goes at release.
    assert play(make(armed=True), [(0, 150)]) == [(150, "alarm")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(60, 1500), st.integers(60, 7000)), min_size=1, max_size=8))
def test_armed_or_not_a_pattern_press_always_raises_an_alarm_or_the_test(steps):
    # Any sequence of real presses (each held >= press_ms) raises something:
    # arming can turn one exact gesture into a test, never into silence.
    presses, t = [], 0
    for gap, held in steps:
        t += gap
        presses.append((t, held))
        t += held
    for armed in (False, True):
        events = names(play(make(armed=armed), presses))
        assert "alarm" in events or events.count("test_alarm") == 1
