"""Generated input at POST /api/v1/alarms/{id}/locations of a running backend:
junk is a 400 and stores nothing; a valid fix is stored exactly as sent."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from msa.backend.bodies import EARLIEST_MS
from msa.backend.store import open_store
from msa.timefmt import now_ms, to_iso
from tests.backend.conftest import count_rows
from tests.backend.test_ingest_junk import JUNK, json_values
from tests.backend.util import PHONE, body, signed


def not_a_fix(value: object) -> bool:
    """Junk by construction: anything but an object with every field a fix needs."""
    return not (isinstance(value, dict) and {"lat", "lon", "fix_at"} <= value.keys())


@pytest.fixture
def alarm(server, database_url):
    """An open alarm's locations URL and a client of its phone; only fixes may be added."""
    with httpx.Client(base_url=server.url, headers=PHONE) as client:
        receipt = client.post("/api/v1/frames", json=body(signed(1)))
        assert receipt.status_code == 200
        before = asyncio.run(count_rows(database_url))
        yield client, f"/api/v1/alarms/{receipt.json()['alarm_id']}/locations"
    after = asyncio.run(count_rows(database_url))
    assert {**after, "alarm_locations": 0} == {**before, "alarm_locations": 0}


@pytest.fixture
def junk_target(alarm, database_url):
    """As `alarm`, where nothing at all may be stored."""
    before = asyncio.run(count_rows(database_url))
    yield alarm
    assert asyncio.run(count_rows(database_url)) == before


@JUNK
@given(content=st.binary(max_size=300))
def test_random_bytes(junk_target, content):
    client, url = junk_target
    response = client.post(url, content=content)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@JUNK
@given(value=json_values.filter(not_a_fix))
def test_random_json(junk_target, value):
    client, url = junk_target
    response = client.post(url, content=json.dumps(value))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


finite = st.floats(allow_nan=False, allow_infinity=False)


@JUNK
@given(
    lat=finite.filter(lambda v: not -90 <= v <= 90) | st.floats(-90, 90),
    lon=finite.filter(lambda v: not -180 <= v <= 180) | st.floats(-180, 180),
    accuracy_m=st.none() | finite,
    # SPEC §7.3: from 2020 to five minutes past the backend's clock. Drawn as
    # offsets from the clock when the test sends, a minute off the moving bound.
    fix_in=st.booleans(),
    early_ms=st.integers(0, EARLIEST_MS - 1),
    age_ms=st.integers(-4 * 60_000, 5 * 365 * 86_400_000),
    ahead_ms=st.integers(6 * 60_000, 100 * 365 * 86_400_000),
    late=st.booleans(),
)
def test_fixes_are_stored_exactly_or_refused(
    alarm, database_url, lat, lon, accuracy_m, fix_in, early_ms, age_ms, ahead_ms, late
):
    client, url = alarm
    now = now_ms()
    if fix_in:
        fix_ms = max(EARLIEST_MS, now - age_ms)
    else:
        fix_ms = now + ahead_ms if late else early_ms
    sent = {"lat": lat, "lon": lon, "accuracy_m": accuracy_m, "fix_at": to_iso(fix_ms)}
    response = client.post(url, json=sent)
    valid = -90 <= lat <= 90 and -180 <= lon <= 180
    valid = valid and (accuracy_m is None or 0 <= accuracy_m <= 1e7)
    if not valid:
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"
        return
    if not fix_in:
        assert response.status_code == 400 and response.json()["error"] == "invalid_time"
        return
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("committed", "duplicate")
    alarm_id = int(url.split("/")[4])
    stored = asyncio.run(_trail(database_url, alarm_id))
    point = next(p for p in stored if p.fix_at == fix_ms and p.source == "update")
    if response.json()["status"] == "committed":
        assert (point.lat, point.lon) == (lat, lon)
        assert point.accuracy_m == accuracy_m or (
            accuracy_m is not None and math.isclose(point.accuracy_m, accuracy_m)
        )


async def _trail(database_url, alarm_id):
    store = await open_store(database_url)
    try:
        return (await store.alarm(alarm_id)).trail
    finally:
        await store.close()
