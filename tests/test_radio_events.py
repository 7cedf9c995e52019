"""The emulated radio's event counts: derived from the intervals in force and the
time spent advertising or connected (boards/emulated/radio_events.py)."""

import pytest

from bench import battery
from boards import board_constants
from boards.emulated import radio_events
from boards.emulated.radio_events import RadioStats, total


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(radio_events.time, "monotonic", fake)
    return fake


def test_advertising_events_follow_the_interval(clock):
    stats = RadioStats()
    stats.advertising_started(500.0)
    clock.now += 10
    assert stats.counters()["advertising_events"] == pytest.approx(20)
    stats.advertising_stopped()
    clock.now += 10  # not advertising: nothing more
    assert stats.counters()["advertising_events"] == pytest.approx(20)
    assert stats.counters()["advertising_s"] == pytest.approx(10)


def test_connection_events_follow_interval_and_latency_through_an_update(clock):
    stats = RadioStats()
    stats.link_up(1, 30.0, 0)
    clock.now += 3  # 100 events at 30 ms
    stats.link_updated(1, 125.0, 2)
    clock.now += 37.5  # 100 events at 375 ms (125 ms, two skipped)
    stats.link_down(1)
    clock.now += 5
    counters = stats.counters()
    assert counters["connection_events"] == pytest.approx(200)
    assert counters["connected_s"] == pytest.approx(40.5)
    assert counters["connections"] == 1


def test_a_power_cut_closes_every_span(clock):
    stats = RadioStats()
    stats.advertising_started(1000.0)
    clock.now += 2
    stats.closed()
    clock.now += 100
    assert stats.counters()["advertising_events"] == pytest.approx(2)


def test_power_ups_add_up():
    one = {"notifications": 2, "advertising_events": 1.04, "connection_interval_ms": None}
    two = {"notifications": 3, "advertising_events": 2.0, "connection_interval_ms": 125.0}
    assert total([one, two]) == {
        "notifications": 5,
        "advertising_events": 3.0,
        "connection_interval_ms": 125.0,
    }


def test_board_constants_are_read_without_running_micropython():
    nrf = board_constants("nrf52840")
    assert nrf["NAME"] == "nrf52840"
    assert nrf["CONN_INTERVAL_MS"] * (1 + nrf["CONN_LATENCY"]) == 375
    assert "machine" not in nrf


def test_battery_life_follows_the_charge_per_event():
    idle = {"advertising_s": 0.0, "connected_s": 3600.0}
    figures = battery.estimate(idle, frames_per_heartbeat=1.0)["profiles"]
    nrf = figures["nrf52840-cr2032"]
    # 3600 s / 375 ms = 9600 connection events of 2.5 uC, 4 frames of 150 uC an hour
    assert nrf["events_per_hour"] == {
        "advertising_events": 0,
        "connection_events": 9600,
        "frames": 4,
    }
    assert nrf["avg_current_ua"] == pytest.approx(1.5 + (9600 * 2.5 + 4 * 150) / 3600, abs=0.01)
    assert nrf["days"] == pytest.approx(225_000 / nrf["avg_current_ua"] / 24, rel=1e-3)
    assert nrf["ratio"] == pytest.approx(1.5 / nrf["avg_current_ua"], rel=1e-2)
    # Every profile lives shorter than on sleep alone, and a radio-on-all-the-time
    # ESP32 lives shorter than an nRF52840 on a coin cell.
    assert all(p["days"] <= p["baseline_sleep_only_days"] for p in figures.values())
    assert figures["esp32-lipo"]["days"] < nrf["days"]
