"""The phone's own reports (SPEC §7.2) on both engines: link reports (Bluetooth
off: when, how long) and check-ins. Every refusal changes nothing."""

from __future__ import annotations

import pytest

from tests.backend.util import PHONE

LINK = "/api/v1/link-reports"
CHECK_IN = "/api/v1/check-ins"
OFF = {"bluetooth_off_at": "2026-11-23T08:00:00.000Z", "bluetooth_on_at": "2026-11-23T08:42:30Z"}


async def test_a_link_report_is_committed_once_and_a_retry_is_a_duplicate(backend):
    first = await backend.client.post(LINK, json=OFF, headers=PHONE)
    assert first.status_code == 200
    assert first.json() == {"status": "committed", "off_ms": 42 * 60_000 + 30_000}
    again = await backend.client.post(LINK, json=OFF, headers=PHONE)
    assert again.json()["status"] == "duplicate"
    assert (await backend.store.counts())["link_reports"] == 1


async def test_a_report_with_the_same_start_and_another_end_is_refused(backend):
    await backend.client.post(LINK, json=OFF, headers=PHONE)
    before = await backend.store.counts()
    other = {**OFF, "bluetooth_on_at": "2026-11-23T09:00:00Z"}
    refused = await backend.client.post(LINK, json=other, headers=PHONE)
    assert refused.status_code == 409 and refused.json()["error"] == "report_conflict"
    assert await backend.store.counts() == before


async def test_an_open_period_is_reported_then_closed_once(backend):
    opened = {"bluetooth_off_at": OFF["bluetooth_off_at"]}
    first = await backend.client.post(LINK, json={**opened, "bluetooth_on_at": None}, headers=PHONE)
    assert first.json() == {"status": "committed", "off_ms": None}
    assert (await backend.client.post(LINK, json=opened, headers=PHONE)).json()["status"] == (
        "duplicate"
    )
    closed = await backend.client.post(LINK, json=OFF, headers=PHONE)
    assert closed.json() == {"status": "committed", "off_ms": 42 * 60_000 + 30_000}
    # The open report again, after its end: an older copy, nothing changes.
    assert (await backend.client.post(LINK, json=opened, headers=PHONE)).json()["status"] == (
        "duplicate"
    )
    assert (await backend.client.post(LINK, json=OFF, headers=PHONE)).json()["status"] == (
        "duplicate"
    )
    other = {**OFF, "bluetooth_on_at": "2026-11-23T09:00:00Z"}
    assert (await backend.client.post(LINK, json=other, headers=PHONE)).status_code == 409
    assert (await backend.store.counts())["link_reports"] == 1


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({**OFF, "bluetooth_on_at": "2026-11-23T07:59:59Z"}, "invalid_request", "before"),
        ({"bluetooth_on_at": OFF["bluetooth_on_at"]}, "invalid_request", "bluetooth_off_at"),
        ({**OFF, "bluetooth_off_at": "2026-11-23T08:00:00"}, "invalid_request", "time zone"),
        ({**OFF, "bluetooth_on_at": "2999-01-01T00:00:00Z"}, "invalid_time", "five minutes past"),
        ({**OFF, "bluetooth_off_at": "2019-12-31T23:59:59Z"}, "invalid_time", "2020-01-01"),
        ({**OFF, "bluetooth_off_at": 1764000000}, "invalid_request", "ISO 8601"),
        ([OFF], "invalid_request", "JSON object"),
    ],
)
async def test_an_invalid_link_report_is_refused_and_changes_nothing(backend, body, code, says):
    before = await backend.store.counts()
    refused = await backend.client.post(LINK, json=body, headers=PHONE)
    assert refused.status_code == 400
    assert refused.json()["error"] == code and says in refused.json()["detail"]
    assert await backend.store.counts() == before


@pytest.mark.parametrize("path", [LINK, CHECK_IN])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-phone"}])
async def test_reports_need_a_known_phone_token(backend, path, headers):
    before = await backend.store.counts()
    body = OFF if path == LINK else {"at": "2026-11-23T08:00:00Z"}
    refused = await backend.client.post(path, json=body, headers=headers)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert await backend.store.counts() == before


async def test_a_check_in_is_committed_once(backend):
    body = {"at": "2026-11-23T08:00:00+01:00"}
    first = await backend.client.post(CHECK_IN, json=body, headers=PHONE)
    assert first.status_code == 200 and first.json() == {"status": "committed"}
    same_instant = {"at": "2026-11-23T07:00:00Z"}  # the same moment, written in UTC
    again = await backend.client.post(CHECK_IN, json=same_instant, headers=PHONE)
    assert again.json() == {"status": "duplicate"}
    assert (await backend.store.counts())["check_ins"] == 1
