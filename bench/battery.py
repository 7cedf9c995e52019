"""Battery life of the button per board profile, from the radio events of an idle day.

The emulated board runs the real firmware, idle: bonded phone in range and linked
at the 112 app's low-power connection parameters, heartbeats going out. For a
measured window the emulated radio counts its advertising events, connection
events and notifications (boards/emulated/radio_events.py). Those counts become
events per hour (extrapolated from the window, and said so), and with each board
profile's physical figures (docs/power.md: capacity, sleep current, charge per
event) an average current and a battery life. The baseline, computed in the same
run, is each profile's sleep-only life: the ratio says what the radio costs.

    msa bench battery --json [--window 30] [--heartbeat 3]

The heartbeat runs faster than in service (900 s) so that the window holds some;
the notifications per heartbeat measured are then scaled to the service interval.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._args import add_air, out_of_bounds
from bench._bonded import STEP_TIMEOUT_S, bonded
from boards import board_constants
from boards.emulated.emulator import EmulatedBoard
from boards.emulated.timed_air import air_named
from msa.app.link import LinkParameters
from msa.waiting import wait_until, within
from protocol import frame

DEVICE_ID = 0x0BA77E41
SERVICE_HEARTBEAT_S = 900  # firmware/settings.py's default
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class Profile:
    """A board on a battery: docs/power.md gives each figure's source."""

    name: str
    board: str
    battery: str
    capacity_mah: float
    sleep_ua: float  # between radio events, radio and CPU asleep
    adv_event_uc: float  # one advertising event on three channels
    conn_event_uc: float  # one connection event with empty packets
    frame_uc: float  # one frame: signing, flash write, notification and its ACK


PROFILES = (
    Profile("nrf52840-cr2032", "nrf52840", "CR2032", 225, 1.5, 7, 2.5, 150),
    Profile("esp32c3-cr2032", "esp32c3", "CR2032", 225, 140, 160, 90, 1000),
    Profile("esp32c3-lipo", "esp32c3", "LiPo 400 mAh", 400, 140, 160, 90, 1000),
    Profile("esp32-lipo", "esp32", "LiPo 400 mAh", 400, 800, 250, 150, 1500),
    # What stock MicroPython gives today: no automatic light sleep with BLE on.
    Profile("esp32c3-lipo-stock-micropython", "esp32c3", "LiPo 400 mAh", 400, 22_000, 0, 0, 0),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--heartbeat", type=int, default=3, help="seconds, during the run")
    add_air(
        parser,
        "the air runs and counts the connection events",
        "events derived from the time connected",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    error = out_of_bounds(args, (("window", 5, 3600), ("heartbeat", 1, 900)))
    if error is not None:
        return error
    with tempfile.TemporaryDirectory(prefix="msa-battery-") as folder:
        measured = asyncio.run(_measure(Path(folder), args.window, args.heartbeat, args.air))
    if "error" in measured:
        return measured
    return {**measured, **estimate(measured["per_hour"], measured["frames_per_heartbeat"])}


def events_per_hour(board: str, idle: dict[str, Any], frames_per_heartbeat: float) -> dict:
    """A board's own event counts for the measured share of time advertising and
    connected, at its own intervals (the emulated board advertises faster). The
    timed air counted the connection events: they are taken as counted, for a board
    whose parameters are those the run used."""
    c = board_constants(board)
    advertising_s = idle["advertising_s"]
    connected_s = idle["connected_s"]
    every_ms = c["CONN_INTERVAL_MS"] * (1 + c["CONN_LATENCY"])
    connection_events = connected_s * 1000 / every_ms
    same_link = (idle.get("connection_interval_ms"), idle.get("peripheral_latency")) == (
        c["CONN_INTERVAL_MS"],
        c["CONN_LATENCY"],
    )
    if idle.get("events") == "counted" and same_link:
        connection_events = idle["connection_events"]
    return {
        "advertising_events": advertising_s * 1e6 / c["ADV_INTERVAL_US"],
        "connection_events": connection_events,
        "frames": frames_per_heartbeat * 3600 / SERVICE_HEARTBEAT_S,
    }


def average_current_ua(p: Profile, events: dict[str, float]) -> float:
    """A profile's average current for so many events an hour."""
    charge_uc_per_h = (
        events["advertising_events"] * p.adv_event_uc
        + events["connection_events"] * p.conn_event_uc
        + events["frames"] * p.frame_uc
    )
    return p.sleep_ua + charge_uc_per_h / 3600


def days_on(p: Profile, average_ua: float) -> float:
    return p.capacity_mah * 1000 / average_ua / HOURS_PER_DAY


def estimate(per_hour: dict[str, float], frames_per_heartbeat: float) -> dict[str, Any]:
    """Average current and life per profile; the sleep-only life is the baseline."""
    profiles: dict[str, Any] = {}
    for p in PROFILES:
        events = events_per_hour(p.board, per_hour, frames_per_heartbeat)
        average_ua = average_current_ua(p, events)
        charge_uc_per_h = (average_ua - p.sleep_ua) * 3600
        days = days_on(p, average_ua)
        sleep_only_days = p.capacity_mah * 1000 / p.sleep_ua / HOURS_PER_DAY
        away = events_per_hour(p.board, {"advertising_s": 3600, "connected_s": 0}, 0)
        away_ua = p.sleep_ua + away["advertising_events"] * p.adv_event_uc / 3600
        profiles[p.name] = {
            "battery": p.battery,
            "capacity_mah": p.capacity_mah,
            "sleep_ua": p.sleep_ua,
            "events_per_hour": {k: round(v) for k, v in events.items()},
            "radio_ua": round(charge_uc_per_h / 3600, 2),
            "avg_current_ua": round(average_ua, 2),
            "days": round(days, 1),
            "baseline_sleep_only_days": round(sleep_only_days, 1),
            "ratio": round(days / sleep_only_days, 3),
            # Not measured: the same model with the phone away all day (advertising).
            "phone_away_avg_current_ua": round(away_ua, 2),
            "phone_away_days": round(p.capacity_mah * 1000 / away_ua / HOURS_PER_DAY, 1),
        }
    return {"profiles": profiles}


async def _measure(folder: Path, window_s: float, heartbeat_s: int, air: str) -> dict[str, Any]:
    heartbeats: list[int] = []
    settings = {"key": "5a" * 32, "heartbeat_s": heartbeat_s}
    # What the 112 app asks for once linked (Android: LOW_POWER priority).
    wanted = LinkParameters.of_board("emulated")
    try:
        async with bonded(
            folder,
            DEVICE_ID,
            settings,
            air=air_named(air),
            parameters=wanted,
        ) as chain:
            board, phone = chain.board, chain.phone
            phone.on_received = lambda got, _at: (
                got.type == frame.HEARTBEAT and heartbeats.append(got.counter)
            )
            await within(phone.linked.wait(), STEP_TIMEOUT_S)
            await within(_until(lambda: _link_of(board) == wanted), STEP_TIMEOUT_S)
            before, heard_before, started = board.radio_events(), len(heartbeats), time.monotonic()
            await asyncio.sleep(window_s)  # the window measured: the board idles on its own
            after, heard = board.radio_events(), len(heartbeats)
            window = time.monotonic() - started
    except (TimeoutError, AssertionError) as error:
        return {"error": f"the emulated board did not reach idle: {error!r}"}
    counted = {
        k: after[k] - before.get(k, 0)
        for k in (
            "advertising_s",
            "advertising_events",
            "connected_s",
            "connection_events",
            "notifications",
        )
    }
    frames_sent = heard - heard_before
    return {
        "air": air,
        "events": after.get("events"),
        "window_s": round(window, 1),
        "heartbeat_s_in_run": heartbeat_s,
        "heartbeat_s_in_service": SERVICE_HEARTBEAT_S,
        "counted": {k: round(v, 2) for k, v in counted.items()},
        "per_hour": {
            **{k: round(v * 3600 / window, 1) for k, v in counted.items()},
            "events": after.get("events"),
            "connection_interval_ms": after.get("connection_interval_ms"),
            "peripheral_latency": after.get("peripheral_latency"),
        },
        "extrapolated": f"per hour = counted x 3600 / {window:.0f} s; frames at the service "
        f"heartbeat ({SERVICE_HEARTBEAT_S} s) from the notifications per heartbeat measured",
        "link": {
            "connection_interval_ms": after.get("connection_interval_ms"),
            "peripheral_latency": after.get("peripheral_latency"),
            "advertising_interval_ms": after.get("advertising_interval_ms"),
        },
        "frames_per_heartbeat": round(counted["notifications"] / max(frames_sent, 1), 3),
        "heartbeats_received": frames_sent,
    }


def _link_of(board: EmulatedBoard) -> LinkParameters | None:
    """The parameters the board's radio runs now (None before its first link)."""
    events = board.radio_events()
    interval, latency = events.get("connection_interval_ms"), events.get("peripheral_latency")
    if interval is None or latency is None:
        return None
    wanted = LinkParameters.of_board("emulated")
    return LinkParameters(interval, latency, wanted.timeout_ms)


async def _until(condition: Callable[[], bool]) -> None:
    await wait_until(condition, STEP_TIMEOUT_S, "the phone's connection parameters")
