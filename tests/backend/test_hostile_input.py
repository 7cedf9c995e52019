"""What an attacker with one phone's credentials sent in the review of issue 9, and
what the backend answers now: times are bounded (SPEC §7.3), bodies are bounded,
and an unexpected failure is one documented 500 and one log line."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from msa.backend.bodies import MAX_BODY_BYTES, MAX_DEPTH, nesting_depth
from msa.timefmt import now_ms, to_iso
from protocol import frame
from tests.backend.conftest import count_rows
from tests.backend.test_ingest_junk import JUNK
from tests.backend.util import LOCATION, OPERATOR, PHONE, body, signed

FAR_FUTURE = "9999-12-31T23:59:59-14:00"  # year 10000 in UTC: past what to_iso can write
HOUR_AHEAD_S = 3600
PHONE_PATHS = ["/api/v1/frames", "/api/v1/link-reports", "/api/v1/check-ins", "LOCATIONS"]


async def open_alarm(backend) -> int:
    receipt = await backend.client.post("/api/v1/frames", json=body(signed(1)), headers=PHONE)
    assert receipt.status_code == 200
    return receipt.json()["alarm_id"]


async def refused_unchanged(backend, path: str, content: bytes | str, code: str) -> dict:
    before = await backend.store.counts()
    answer = await backend.client.post(
        path, content=content, headers={**PHONE, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == code, answer.text
    assert await backend.store.counts() == before
    return answer.json()


async def test_a_fix_from_year_10000_is_refused_and_the_console_still_reads(backend):
    alarm_id = await open_alarm(backend)
    fix = {"lat": 51.05, "lon": 3.72, "fix_at": FAR_FUTURE}
    before = await backend.store.counts()
    answer = await backend.client.post(
        f"/api/v1/alarms/{alarm_id}/locations", json=fix, headers=PHONE
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_time"
    assert "location.fix_at" in answer.json()["detail"]
    assert await backend.store.counts() == before
    read = await backend.client.get(f"/api/v1/alarms/{alarm_id}", headers=OPERATOR)
    assert read.status_code == 200


async def test_an_alarm_with_impossible_times_is_committed_with_the_times_set_aside(backend):
    raw = signed(1, time_s=4_102_444_800)  # the button's clock says 2100
    sent = body(raw, received_at=FAR_FUTURE, location={**LOCATION, "fix_at": FAR_FUTURE})
    start = now_ms()
    answer = await backend.client.post("/api/v1/frames", json=sent, headers=PHONE)
    end = now_ms()
    assert answer.status_code == 200 and answer.json()["status"] == "committed"
    alarm = await backend.store.alarm(answer.json()["alarm_id"])
    assert alarm is not None
    assert start <= alarm.received_at <= end  # the backend's clock, not year 10000
    assert alarm.pressed_at is None  # the button's clock was wrong: unknown
    assert alarm.location is not None and alarm.location.fix_at is None
    assert (alarm.location.lat, alarm.location.lon) == (LOCATION["lat"], LOCATION["lon"])


@pytest.mark.parametrize(
    ("changes", "time_s", "names"),
    [
        ({"received_at": FAR_FUTURE}, None, "received_at"),
        ({"location": {**LOCATION, "fix_at": FAR_FUTURE}}, None, "location.fix_at"),
        ({}, 4_102_444_800, "time_s"),  # a heartbeat signed in 2100
        ({"received_at": "2019-12-31T23:59:59Z"}, None, "received_at"),
    ],
)
async def test_a_heartbeat_with_a_time_out_of_the_rule_is_refused(backend, changes, time_s, names):
    kwargs = {} if time_s is None else {"time_s": time_s}
    raw = signed(1, frame.HEARTBEAT, **kwargs)
    refusal = await refused_unchanged(
        backend, "/api/v1/frames", _json(body(raw, **changes)), "invalid_time"
    )
    assert names in refusal["detail"]


async def test_received_at_an_hour_ahead_is_refused_four_minutes_ahead_is_not(backend):
    hour = body(signed(1, frame.HEARTBEAT), received_at=to_iso(now_ms() + HOUR_AHEAD_S * 1000))
    await refused_unchanged(backend, "/api/v1/frames", _json(hour), "invalid_time")
    minutes = body(signed(2, frame.HEARTBEAT), received_at=to_iso(now_ms() + 240_000))
    answer = await backend.client.post("/api/v1/frames", json=minutes, headers=PHONE)
    assert answer.status_code == 200 and answer.json()["status"] == "committed"


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", PHONE_PATHS)
async def test_deep_nesting_is_refused_on_every_phone_path(backend, path, caplog):
    depth = 500 if path == "LOCATIONS" else 1500  # a fix's body is at most 1 KiB
    path = await _path(backend, path)
    with caplog.at_level(logging.INFO):
        refusal = await refused_unchanged(backend, path, nested_arrays(depth), "invalid_request")
    assert f"nests {depth} levels" in refusal["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("path", PHONE_PATHS)
async def test_a_huge_number_is_refused_on_every_phone_path(backend, path):
    path = await _path(backend, path)
    fix = {"lat": "NUMBER", "lon": 3.7, "fix_at": "2026-11-23T19:03:10Z"}
    data = body(signed(5), location=fix) if path == "/api/v1/frames" else fix
    huge = "1" + "0" * 400  # 10**400: no double holds it
    content = _json(data).replace('"NUMBER"', huge)
    refusal = await refused_unchanged(backend, path, content, "invalid_request")
    assert "digits" in refusal["detail"]


@pytest.mark.parametrize("number", ["1e400", "-1e999", "1." + "0" * 40])
async def test_out_of_range_and_overlong_floats_are_refused(backend, number):
    alarm_id = await open_alarm(backend)
    fix = {"lat": "NUMBER", "lon": 3.7, "fix_at": "2026-11-23T19:03:10Z"}
    content = _json(fix).replace('"NUMBER"', number)
    path = f"/api/v1/alarms/{alarm_id}/locations"
    await refused_unchanged(backend, path, content, "invalid_request")


async def test_a_body_over_the_limit_is_refused_for_its_size_and_one_under_it_is_taken(backend):
    padding = "a" * (MAX_BODY_BYTES - 400)
    under = _json(body(signed(1), padding=padding))
    assert len(under) <= MAX_BODY_BYTES
    answer = await backend.client.post("/api/v1/frames", content=under, headers=PHONE)
    assert answer.status_code == 200, answer.text
    over = _json(body(signed(2), padding=padding + "a" * 600))
    assert len(over) > MAX_BODY_BYTES
    refusal = await refused_unchanged(backend, "/api/v1/frames", over, "invalid_request")
    assert f"larger than {MAX_BODY_BYTES} bytes" in refusal["detail"]


async def test_an_unexpected_failure_is_one_documented_500_and_one_log_line(
    backend, monkeypatch, caplog
):
    async def broken(*_args, **_kwargs):
        raise RuntimeError("a fault injected by the test\nwith a second line")

    monkeypatch.setattr(backend.store, "commit_check_in", broken)
    with caplog.at_level(logging.INFO):
        answer = await backend.client.post(
            "/api/v1/check-ins", json={"at": "2026-11-23T08:00:00Z"}, headers=PHONE
        )
    assert answer.status_code == 500  # the contract hook checked the body's shape
    request_id = answer.json()["request_id"]
    assert answer.json()["error"] == "internal_error"
    assert answer.headers["x-request-id"] == request_id
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1 and failures[0].exc_info is None
    line = failures[0].getMessage()
    assert request_id in line and "RuntimeError" in line and "/api/v1/check-ins" in line
    assert "\n" not in line


async def test_every_answer_carries_a_request_id(backend):
    ids = set()
    for _ in range(3):
        answer = await backend.client.get("/api/v1/openapi.json")
        ids.add(answer.headers["x-request-id"])
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[[[[[[[[["}', 1),  # brackets inside a string do not count
        ('{"a": "\\"[[[["}', 1),  # nor after an escaped quote
        ("[" * 9 + "]" * 9, 9),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(text, depth):
    assert nesting_depth(text.encode()) == depth
    assert (depth > MAX_DEPTH) == (depth == 9)


async def _path(backend, path: str) -> str:
    if path == "LOCATIONS":
        return f"/api/v1/alarms/{await open_alarm(backend)}/locations"
    return path


def _json(data: object) -> str:
    return json.dumps(data)


# --- generated: nested bodies and huge numbers at a real `msa backend serve` --------

too_deep = st.integers(MAX_DEPTH + 1, 1900).flatmap(
    lambda depth: st.sampled_from(["[", '{"a":']).map(
        lambda opener: opener * depth + "1" + ("]" if opener == "[" else "}") * depth
    )
)
huge_numbers = st.one_of(
    st.integers(33, 5000).map(lambda digits: "9" * digits),
    st.integers(309, 10**6).map(lambda exponent: f"1e{exponent}"),
    st.integers(309, 10**6).map(lambda exponent: f"-2.5E+{exponent}"),
    st.integers(33, 300).map(lambda digits: "0." + "1" * digits),
)
FIELDS = ["BODY", "frame", "received_at", "location", "lat", "lon", "accuracy_m", "at"]


def with_value(path: str, field: str, value: str) -> str:
    fix = {"lat": 51.05, "lon": 3.72, "accuracy_m": 5, "fix_at": "2026-11-23T19:03:10Z"}
    bodies = {
        "/api/v1/frames": body(signed(9), location=fix),
        "/api/v1/link-reports": {
            "bluetooth_off_at": "2026-11-23T08:00:00Z",
            "bluetooth_on_at": "2026-11-23T08:30:00Z",
        },
        "/api/v1/check-ins": {"at": "2026-11-23T08:00:00Z"},
    }
    data = bodies.get(path, fix)
    if field == "BODY":
        return value
    if field in ("lat", "lon", "accuracy_m") and "location" in data:
        data = {**data, "location": {**fix, field: "VALUE"}}
    else:
        data = {**data, field: "VALUE"}
    return _json(data).replace('"VALUE"', value)


@pytest.fixture
def live_alarm(server, database_url):
    """A real backend with one open alarm; nothing may be stored after that."""
    with httpx.Client(base_url=server.url, headers=PHONE, timeout=30) as client:
        receipt = client.post("/api/v1/frames", json=body(signed(1)))
        assert receipt.status_code == 200
        before = asyncio.run(count_rows(database_url))
        yield client, receipt.json()["alarm_id"]
        assert asyncio.run(count_rows(database_url)) == before
    assert "Traceback" not in server.log.read_text()


@JUNK
@given(
    path=st.sampled_from(PHONE_PATHS),
    field=st.sampled_from(FIELDS),
    value=too_deep | huge_numbers,
)
def test_generated_deep_bodies_and_huge_numbers_are_400s(live_alarm, path, field, value):
    client, alarm_id = live_alarm
    if path == "LOCATIONS":
        path = f"/api/v1/alarms/{alarm_id}/locations"
    content = with_value(path, field, value)
    answer = client.post(path, content=content, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request", answer.text
