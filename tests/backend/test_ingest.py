"""POST /api/v1/frames on both engines: every answer of protocol/SPEC.md §7.

A refused request must change nothing: each refusal test compares row counts.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator

import httpx
import pytest

from msa.backend.app import create_app
from msa.backend.pgcluster import cluster
from protocol import frame
from protocol.mac import MacKey
from tests.backend.conftest import seed
from tests.backend.util import (
    DEVICE_ID,
    KEY,
    LOCATION,
    PHONE,
    RECEIVED_AT,
    TIME_S,
    body,
    signed,
)

FRAMES = "/api/v1/frames"


async def post(backend, payload, headers=PHONE):
    return await backend.client.post(FRAMES, json=payload, headers=headers)


async def test_an_alarm_is_committed_with_its_alarm(backend):
    before = await backend.store.counts()
    response = await post(backend, body(signed(1)))
    assert response.status_code == 200
    receipt = response.json()
    assert receipt["status"] == "committed"
    assert receipt["type"] == "alarm"
    assert receipt["device_id"] == "00c0ffee"
    assert receipt["counter"] == 1
    assert receipt["committed_at"].endswith("Z") and len(receipt["committed_at"]) == 24
    after = await backend.store.counts()
    assert after["frames"] == before["frames"] + 1
    assert after["alarms"] == before["alarms"] + 1

    alarm = await backend.store.alarm(receipt["alarm_id"])
    assert alarm is not None
    assert (alarm.kind, alarm.status, alarm.counter) == ("alarm", "open", 1)
    assert alarm.pressed_at == 1764000000 * 1000
    assert alarm.received_at == 1795460523456  # RECEIVED_AT
    assert alarm.location is not None and alarm.location.accuracy_m == LOCATION["accuracy_m"]
    assert alarm.case.id == backend.seeded["case_id"]


async def test_test_alarm_and_unknown_button_clock(backend):
    response = await post(backend, body(signed(1, frame.TEST_ALARM, time_s=0), location=None))
    assert response.status_code == 200
    alarm = await backend.store.alarm(response.json()["alarm_id"])
    assert alarm is not None
    assert alarm.kind == "test_alarm"
    assert alarm.pressed_at is None  # the button had not been told the time
    assert alarm.location is None


async def test_a_heartbeat_is_stored_as_a_frame_without_alarm(backend):
    before = await backend.store.counts()
    response = await post(backend, body(signed(1, frame.HEARTBEAT)))
    assert response.status_code == 200
    assert response.json()["status"] == "committed"
    assert response.json()["alarm_id"] is None
    after = await backend.store.counts()
    assert (after["frames"], after["alarms"]) == (before["frames"] + 1, before["alarms"])


def signed_anyway(counter: int) -> bytes:
    """A frame with a valid MAC that frame.sign() would refuse to build."""
    header = struct.pack(">BBIIB", frame.VERSION, frame.ALARM, DEVICE_ID, counter, 6)
    data = header + frame.alarm_payload(TIME_S, 3010)
    return data + MacKey(KEY).mac(data)


@pytest.mark.parametrize("kind", [frame.ALARM, frame.HEARTBEAT])
async def test_both_200s_carry_the_receipt_only_the_devices_key_makes(backend, kind):
    raw = signed(1, kind)
    expected = frame.receipt(KEY, frame.parse(raw).mac).hex()
    first = await post(backend, body(raw))
    again = await post(backend, body(raw))
    assert [first.json()["status"], again.json()["status"]] == ["committed", "duplicate"]
    assert first.json()["receipt"] == again.json()["receipt"] == expected
    other = (await post(backend, body(signed(2, kind)))).json()["receipt"]
    assert other != expected  # a receipt is for one frame


async def test_a_frame_newer_than_the_backend_is_501_for_the_phone_to_keep(backend):
    raw = bytes([frame.VERSION + 1]) + signed(1)[1:]
    detail = await refused(backend, body(raw), 501, "unsupported_version")
    assert "version 2" in detail


async def test_a_retry_is_a_duplicate_and_stores_nothing(backend):
    first = await post(backend, body(signed(1)))
    before = await backend.store.counts()
    # The phone retries with a later receipt time and a new fix: still the same frame.
    retry = await post(backend, body(signed(1), received_at="2026-11-23T19:05:00.000Z"))
    assert retry.status_code == 200
    assert retry.json()["status"] == "duplicate"
    assert retry.json()["committed_at"] == first.json()["committed_at"]
    assert retry.json()["alarm_id"] == first.json()["alarm_id"]
    assert await backend.store.counts() == before


async def test_racing_identical_posts_commit_one_row(backend):
    raw = signed(7)
    answers = await asyncio.gather(*(post(backend, body(raw)) for _ in range(10)))
    assert [answer.status_code for answer in answers] == [200] * 10
    statuses = sorted(answer.json()["status"] for answer in answers)
    assert statuses == ["committed"] + ["duplicate"] * 9
    assert len({answer.json()["alarm_id"] for answer in answers}) == 1
    counts = await backend.store.counts()
    assert (counts["frames"], counts["alarms"]) == (1, 1)


async def refused(backend, payload, status, error, headers=PHONE):
    """Post, expect the refusal, and check that it changed nothing."""
    before = await backend.store.counts()
    response = await post(backend, payload, headers)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["error"] == error
    assert isinstance(answer["detail"], str) and answer["detail"].endswith(".")
    assert await backend.store.counts() == before
    return answer["detail"]


async def test_a_wrong_mac_is_refused(backend):
    raw = bytearray(signed(1))
    raw[-1] ^= 0x01
    await refused(backend, body(bytes(raw)), 422, "bad_mac")


async def test_a_frame_signed_with_another_key_is_refused(backend):
    await refused(backend, body(signed(1, key=bytes(32))), 422, "bad_mac")


async def test_a_reused_counter_is_refused(backend):
    await post(backend, body(signed(3)))
    detail = await refused(backend, body(signed(3, battery_mv=2900)), 409, "counter_reused")
    assert "counter 3" in detail


async def test_an_unknown_device_is_refused(backend):
    raw = signed(1, device_id=0x12345678)
    assert "12345678" in await refused(backend, body(raw), 404, "unknown_device")


async def test_a_device_not_linked_to_the_phone_is_refused(backend):
    await backend.store.register_device(0x0BADCAFE, bytes(32), None)
    raw = signed(1, device_id=0x0BADCAFE, key=bytes(32))
    await refused(backend, body(raw), 403, "device_not_linked")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-phone"}, {"Authorization": "Basic abc"}],
    ids=["missing", "unknown", "not-bearer"],
)
async def test_a_phone_token_missing_or_wrong_is_refused(backend, headers):
    await refused(backend, body(signed(1)), 401, "unauthorized", headers)


@pytest.mark.parametrize(
    ("payload", "error", "words"),
    [
        ([], "invalid_request", "JSON object"),
        ({"received_at": RECEIVED_AT}, "invalid_request", "'frame'"),
        (body(signed(1), frame=1234), "invalid_request", "'frame'"),
        (body(signed(1), received_at=None), "invalid_request", "'received_at'"),
        (body(signed(1), received_at="yesterday"), "invalid_request", "ISO 8601"),
        (body(signed(1), received_at="2026-11-23T19:02:03"), "invalid_request", "time zone"),
        (body(signed(1), location="Gent"), "invalid_request", "'location'"),
        (body(signed(1), location={"lat": 51.0}), "invalid_request", "location.lon"),
        (body(signed(1), location={"lat": 91, "lon": 3}), "invalid_request", "between"),
        (body(signed(1), location={"lat": True, "lon": 3}), "invalid_request", "number"),
        (body(signed(1), location={**LOCATION, "fix_at": 5}), "invalid_request", "fix_at"),
        (body(signed(1), location={**LOCATION, "accuracy_m": -1}), "invalid_request", "between"),
        (body(signed(1), frame="zz"), "malformed_frame", "hexadecimal"),
        (body(signed(1)[:-1]), "malformed_frame", "should be"),
        (body(b"\x00" + signed(1)[1:]), "malformed_frame", "version"),
        (body(b"\x00" * 200), "malformed_frame", "longer than"),
        (body(frame.control(frame.ACK, DEVICE_ID, 1)), "malformed_frame", "button only"),
        (body(signed_anyway(0)), "malformed_frame", "sequence 0"),
        (body(signed_anyway(1 << 24)), "malformed_frame", "sequence 0"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_an_invalid_body_is_refused_with_a_precise_detail(backend, payload, error, words):
    assert words in await refused(backend, payload, 400, error)


async def test_a_body_that_is_not_json_is_refused(backend):
    for content in (b"", b"{", b"\xff\xfe", b'{"lat": NaN}', b"x" * 100):
        before = await backend.store.counts()
        response = await backend.client.post(FRAMES, content=content, headers=PHONE)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert await backend.store.counts() == before


def padded(counter: int, size: int) -> bytes:
    """A valid frame body, padded with JSON whitespace to exactly `size` bytes."""
    content = json.dumps(body(signed(counter))).encode()
    return content[:-1] + b" " * (size - len(content)) + b"}"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_valid_body_over_4_kib_is_refused_at_the_limit_and_not_before(backend, chunked):
    def sent(content: bytes) -> bytes | AsyncIterator[bytes]:
        # Without a Content-Length the limit is counted as the body streams in.
        async def chunks() -> AsyncIterator[bytes]:
            yield content[:2048]
            yield content[2048:]

        return chunks() if chunked else content

    before = await backend.store.counts()
    over = await backend.client.post(FRAMES, content=sent(padded(1, 4097)), headers=PHONE)
    assert over.status_code == 400 and "larger than 4096 bytes" in over.json()["detail"]
    assert await backend.store.counts() == before
    at = await backend.client.post(FRAMES, content=sent(padded(1, 4096)), headers=PHONE)
    assert at.status_code == 200 and at.json()["status"] == "committed"


@pytest.mark.postgres
async def test_database_down_is_503_and_the_retry_commits(pg_cluster, tmp_path, kek):
    """The phone's retry after a 503 is committed once the database is back."""
    del pg_cluster  # only for its skip/fail rule: this test needs a cluster it may stop
    with cluster() as pg:
        app = create_app(pg.url, kek=kek)
        async with app.router.lifespan_context(app):
            await seed(app.state.services.store)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                pg.stop("immediate")
                down = await client.post(FRAMES, json=body(signed(1)), headers=PHONE)
                assert down.status_code == 503
                assert down.json()["error"] == "unavailable"
                assert down.headers["Retry-After"] == "1"  # the phone's cue (SPEC §7)
                pg.start()
                back = await client.post(FRAMES, json=body(signed(1)), headers=PHONE)
                assert back.status_code == 200
                assert back.json()["status"] == "committed"
