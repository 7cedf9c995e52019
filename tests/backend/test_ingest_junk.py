"""Generated junk at POST /api/v1/frames of a running backend: a 400, never a row."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# Junk by construction, from protocol/SPEC.md's layout, never by asking the parser
# under test: version, type, device id, counter, payload length (11 bytes), the
# payload, a 16-byte MAC.
SPEC_HEADER, SPEC_MAC = 11, 16
SPEC_TYPES = {0x01, 0x02, 0x03, 0x04, 0x81, 0x82, 0x83}


def _replaced(raw: bytes, at: int, value: int) -> bytes:
    return raw[:at] + bytes([value]) + raw[at + 1 :]


def _malformed_frames() -> st.SearchStrategy[bytes]:
    good = signed(1)
    return st.one_of(
        st.binary(max_size=SPEC_HEADER + SPEC_MAC - 1),  # shorter than any frame
        st.integers(1, len(good) - 1).map(lambda cut: good[:-cut]),  # cut short
        st.binary(min_size=1, max_size=20).map(lambda extra: good + extra),  # too long
        st.integers(0, 255)
        .filter(lambda kind: kind not in SPEC_TYPES)
        .map(lambda kind: _replaced(good, 1, kind)),  # no such frame type
        st.integers(0, 255)
        .filter(lambda size: size != good[10])
        .map(lambda size: _replaced(good, 10, size)),  # payload length not its own
        st.just(_replaced(good, 0, 0)),  # version 0
    )


def _not_instants() -> st.SearchStrategy[str]:
    moment = "2026-11-23T19:02:03.456Z"
    # Out of range, one field at a time: month, day, hour, minute, second.
    fields = [(5, "13"), (8, "32"), (11, "24"), (14, "60"), (17, "61")]
    return st.one_of(
        st.text(st.characters(exclude_categories=("Nd", "Cs")), max_size=40),  # no digit
        st.sampled_from([moment[:at] + value + moment[at + 2 :] for at, value in fields]),
        st.integers(1, len(moment) - 1).map(lambda cut: moment[:cut]),  # cut short
    )


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
@given(raw=_malformed_frames())
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
    received_at=_not_instants()
    | st.datetimes().map(lambda moment: moment.isoformat()),  # no time zone
)
def test_random_times(client, received_at):
    raw = signed(1)
    response = client.post("/api/v1/frames", json=body(raw, received_at=received_at))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
