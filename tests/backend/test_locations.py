"""The phone's fixes during an alarm, on both engines: the trail, the intervention
zone, idempotent retries, and refusals that store nothing."""

from __future__ import annotations

import pytest

from msa.backend import zones
from msa.backend.auth import hash_token
from msa.backend.store.base import ZoneArea
from tests.backend.test_workflow import press
from tests.backend.util import LOCATION, OPERATOR, PHONE

GHENT_CENTRE = {"lat": 51.0543, "lon": 3.7174}  # the alarm's own fix (util.LOCATION)
LOCHRISTI = {"lat": 51.0969, "lon": 3.8742}


def fix(second, place=LOCHRISTI, accuracy_m=15.0):
    return {**place, "accuracy_m": accuracy_m, "fix_at": f"2026-11-23T19:03:{second:02d}.000Z"}


async def post_fix(backend, alarm_id, data, headers=PHONE):
    return await backend.client.post(
        f"/api/v1/alarms/{alarm_id}/locations", json=data, headers=headers
    )


async def test_fixes_make_the_trail_and_move_the_intervention_zone(backend):
    alarm_id = await press(backend)
    first = (await backend.client.get(f"/api/v1/alarms/{alarm_id}", headers=OPERATOR)).json()
    assert first["intervention_zone"] == "PZ Gent"
    assert first["case"]["managing_zone"] == "PZ Gent"
    assert [(p["source"], p["lat"]) for p in first["trail"]] == [("alarm", LOCATION["lat"])]

    moved = await post_fix(backend, alarm_id, fix(10))
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "status": "committed",
        "alarm_id": alarm_id,
        "intervention_zone": "PZ Lochristi",
    }
    again = await post_fix(backend, alarm_id, fix(10))
    assert again.json()["status"] == "duplicate"
    await post_fix(backend, alarm_id, fix(20, accuracy_m=6.0))

    event = (await backend.client.get(f"/api/v1/alarms/{alarm_id}", headers=OPERATOR)).json()
    assert [p["source"] for p in event["trail"]] == ["alarm", "update", "update"]
    assert [p["fix_at"] for p in event["trail"][1:]] == [
        "2026-11-23T19:03:10.000Z",
        "2026-11-23T19:03:20.000Z",
    ]
    assert event["trail"][2]["accuracy_m"] == 6.0
    assert event["location"]["accuracy_m"] == 6.0  # the latest fix
    assert event["intervention_zone"] == "PZ Lochristi"
    assert event["case"]["managing_zone"] == "PZ Gent"  # the case's zone does not move
    assert event["revision"] == 2
    assert (await backend.store.counts())["alarm_locations"] == 2


@pytest.mark.parametrize(
    "data",
    [
        {"lat": 51.0, "lon": 3.7},  # no fix_at: it is the fix's identity
        {"lat": 91, "lon": 3.7, "fix_at": "2026-11-23T19:03:10Z"},
        {"lat": 51.0, "lon": "3.7", "fix_at": "2026-11-23T19:03:10Z"},
        {"lat": 51.0, "lon": 3.7, "fix_at": "2026-11-23T19:03:10"},  # no time zone
        {"lat": 51.0, "lon": 3.7, "accuracy_m": -1, "fix_at": "2026-11-23T19:03:10Z"},
        [51.0, 3.7],
        None,
    ],
)
async def test_a_bad_fix_is_refused_and_stores_nothing(backend, data):
    alarm_id = await press(backend)
    before = await backend.store.counts()
    response = await post_fix(backend, alarm_id, data)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert await backend.store.counts() == before


async def test_only_the_alarms_phone_adds_fixes_while_it_is_open(backend):
    alarm_id = await press(backend)
    before = await backend.store.counts()
    for headers, status, error in [
        ({}, 401, "unauthorized"),
        (OPERATOR, 401, "unauthorized"),  # an operator token is no phone's
        ({"Authorization": "Bearer nobody"}, 401, "unauthorized"),
    ]:
        response = await post_fix(backend, alarm_id, fix(10), headers)
        assert (response.status_code, response.json()["error"]) == (status, error)
    missing = await post_fix(backend, 999, fix(10))
    assert (missing.status_code, missing.json()["error"]) == (404, "unknown_alarm")

    # Another case's phone, with its own button, cannot add to this alarm.
    other_device = 0x00BADBAD
    await backend.store.register_device(other_device, bytes(32), backend.seeded["person_id"])
    await backend.store.link_phone(
        hash_token("other-phone"), backend.seeded["person_id"], other_device
    )
    other = await post_fix(backend, alarm_id, fix(10), {"Authorization": "Bearer other-phone"})
    assert (other.status_code, other.json()["error"]) == (403, "not_your_alarm")
    assert (await backend.store.counts())["alarm_locations"] == before["alarm_locations"]

    for name, data in [
        ("acknowledge", {}),
        ("dispatch", {"patrol": "GE-21", "zone": "PZ Gent"}),
        ("on-scene", {}),
        ("close", {"outcome": "false"}),
    ]:
        response = await backend.client.post(
            f"/api/v1/alarms/{alarm_id}/{name}", json=data, headers=OPERATOR
        )
        assert response.status_code == 200
    closed = await post_fix(backend, alarm_id, fix(30))
    assert (closed.status_code, closed.json()["error"]) == (409, "alarm_closed")
    assert (await backend.store.counts())["alarm_locations"] == before["alarm_locations"]


def test_the_smallest_box_holding_the_point_names_the_zone():
    areas = [
        ZoneArea("Wide", 50.0, 3.0, 52.0, 5.0),
        ZoneArea("City", 51.0, 3.6, 51.1, 3.8),
    ]
    assert zones.locate(areas, 51.05, 3.7) == "City"
    assert zones.locate(areas, 50.5, 4.5) == "Wide"
    assert zones.locate(areas, 49.0, 4.5) is None
    demo = [area for area, _ in zones.demo_areas()]
    assert zones.locate(demo, GHENT_CENTRE["lat"], GHENT_CENTRE["lon"]) == "PZ Gent"
    assert zones.locate(demo, LOCHRISTI["lat"], LOCHRISTI["lon"]) == "PZ Lochristi"
