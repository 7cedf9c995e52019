"""Generated junk at POST /api/v1/frames of a running backend: a 400, never a row."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msa.timefmt import parse_iso
from protocol import frame
from tests.backend.conftest import count_rows
from tests.backend.util import PHONE, body, signed

# One server for all the examples of a test: the row counts are compared at its end.
JUNK = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def not_an_instant(text: str) -> bool:
    try:
        parse_iso(text)
    except ValueError:
        return True
    return False


def not_a_frame(data: bytes) -> bool:
    try:
        frame.parse(data)
    except frame.FrameError:
        return True
    return False


@pytest.fixture
def client(server, database_url):
    before = asyncio.run(count_rows(database_url))
    with httpx.Client(base_url=server.url, headers=PHONE) as client:
        yield client
    assert asyncio.run(count_rows(database_url)) == before


@JUNK
@given(content=st.binary(max_size=300))
def test_random_bytes(client, content):
    response = client.post("/api/v1/frames", content=content)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@JUNK
@given(value=json_values)
def test_random_json(client, value):
    response = client.post("/api/v1/frames", content=json.dumps(value))
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "malformed_frame")


@JUNK
@given(raw=st.binary(max_size=70).filter(not_a_frame))
def test_random_frames(client, raw):
    response = client.post("/api/v1/frames", json=body(raw))
    if raw and raw[0] > frame.VERSION:  # a newer button: kept by the phone (SPEC §7)
        assert response.status_code == 501
        assert response.json()["error"] == "unsupported_version"
        return
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_frame"


@JUNK
@given(
    received_at=st.text(max_size=40).filter(not_an_instant)
    | st.datetimes().map(lambda moment: moment.isoformat()),  # no time zone
)
def test_random_times(client, received_at):
    raw = signed(1)
    response = client.post("/api/v1/frames", json=body(raw, received_at=received_at))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
