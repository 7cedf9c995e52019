"""Firmware 0.2's telemetry on both engines: battery % and heartbeat flags are
stored, a battery_low frame is a frame (no alarm), and a 0.1 frame stores NULL."""

from __future__ import annotations

from msa.backend.store.sql import fetchrow
from protocol import frame
from tests.backend.test_ingest import post
from tests.backend.util import DEVICE_ID, KEY, TIME_S, body, signed

STORED = "SELECT type, battery_mv, battery_pct, flags, uptime_s FROM frames WHERE counter = $1"


async def stored(backend, counter: int) -> dict:
    async with backend.store._connection() as conn:
        row = await fetchrow(conn, STORED, counter)
    assert row is not None
    return dict(row)


async def test_heartbeat_battery_percent_and_flags_are_stored(backend):
    payload = frame.heartbeat_payload(TIME_S, 3702, 3600, 18, frame.LOW_BATTERY | frame.RECOVERED)
    raw = frame.sign(KEY, frame.HEARTBEAT, DEVICE_ID, 7, payload)
    response = await post(backend, body(raw))
    assert response.status_code == 200, response.text
    assert await stored(backend, 7) == {
        "type": frame.HEARTBEAT,
        "battery_mv": 3702,
        "battery_pct": 18,
        "flags": 6,
        "uptime_s": 3600,
    }


async def test_a_battery_low_event_is_a_frame_without_alarm(backend):
    before = await backend.store.counts()
    raw = frame.sign(
        KEY, frame.BATTERY_LOW, DEVICE_ID, 8, frame.battery_low_payload(TIME_S, 3690, 10)
    )
    response = await post(backend, body(raw))
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "battery_low"
    assert response.json()["alarm_id"] is None
    after = await backend.store.counts()
    assert (after["frames"], after["alarms"]) == (before["frames"] + 1, before["alarms"])
    row = await stored(backend, 8)
    assert (row["battery_mv"], row["battery_pct"], row["flags"]) == (3690, 10, None)


async def test_an_alarm_carries_its_percent_and_a_v1_0_frame_stores_none(backend):
    with_pct = frame.sign(KEY, frame.ALARM, DEVICE_ID, 9, frame.alarm_payload(TIME_S, 3012, 62))
    assert (await post(backend, body(with_pct))).status_code == 200
    assert (await post(backend, body(signed(10, frame.HEARTBEAT)))).status_code == 200
    assert (await stored(backend, 9))["battery_pct"] == 62
    old = await stored(backend, 10)
    assert (old["battery_pct"], old["flags"]) == (None, None)


async def test_an_impossible_percent_keeps_the_frame_not_the_figure(backend):
    raw = frame.sign(KEY, frame.ALARM, DEVICE_ID, 11, frame.alarm_payload(TIME_S, 3012, 250))
    response = await post(backend, body(raw))
    assert response.status_code == 200
    assert response.json()["alarm_id"] is not None
    assert (await stored(backend, 11))["battery_pct"] is None
