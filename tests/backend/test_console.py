"""The CIC console against a real backend process: the live stream, auth, audit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pytest

from msa.backend.store import open_store
from protocol import frame
from tests.backend.conftest import login_path
from tests.backend.util import DEVICE_ID, OPERATOR, PHONE, EventStream, body, signed

STREAM = "/api/v1/console/stream"


@asynccontextmanager
async def console(server, headers=OPERATOR) -> AsyncIterator[tuple[httpx.AsyncClient, EventStream]]:
    """An HTTP client on the server, and its alarm stream, read up to `ready`."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        async with client.stream("GET", STREAM, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            yield client, EventStream(response)


async def press(client, counter, kind=frame.ALARM):
    response = await client.post("/api/v1/frames", json=body(signed(counter, kind)), headers=PHONE)
    assert response.status_code == 200, response.text
    return response.json()


def ms(iso):
    return datetime.fromisoformat(iso).timestamp() * 1000


async def alarm_audit(client, alarm_id):
    """(actor, action) of each entry of `GET …/audit`, which shows every delivery
    made before it (the backend writes them in the background)."""
    answer = await client.get(f"/api/v1/alarms/{alarm_id}/audit", headers=OPERATOR)
    assert answer.status_code == 200
    return [(entry["actor"], entry["action"]) for entry in answer.json()["audit"]]


async def audit_trail(database_url, case_id=1):
    store = await open_store(database_url)
    try:
        return await store.audit_trail(case_id)
    finally:
        await store.close()


async def test_a_committed_alarm_is_pushed_at_once_with_its_case_context(server):
    async with console(server) as (client, stream):
        assert await stream.until_ready() == []
        receipt = await press(client, 1)
        name, alarm = await stream.next()
    assert name == "alarm"
    assert alarm["alarm_id"] == receipt["alarm_id"]
    assert (alarm["kind"], alarm["test"], alarm["headline"]) == ("alarm", False, "STALKING ALARM")
    assert (alarm["device_id"], alarm["counter"], alarm["battery_mv"]) == ("00c0ffee", 1, 3010)
    person = alarm["person"]
    assert (person["name"], person["phone_number"]) == ("Sarah Claes", "+32 470 12 34 56")
    assert person["national_register_number"] is None  # not confidential: the name is shown
    assert [a["kind"] for a in person["addresses"]] == ["home", "work", "stay"]
    assert person["addresses"][0]["geo"].startswith("geo:51.06")
    case = alarm["case"]
    assert case["reference"] == "GE.60.L1.012345/26"
    assert (case["managing_zone"], case["judicial_district"]) == ("PZ Gent", "Oost-Vlaanderen")
    assert [(p["name"], p["phone_number"]) for p in case["other_persons"]] == [
        ("Lotte De Smet", "+32 471 98 76 54")
    ]
    assert case["suspect"]["name"] == "Kevin De Smet"
    assert "assault" in case["suspect"]["record"]
    assert case["suspect"]["weapons"]["possession"] is True
    assert "rifle" in case["suspect"]["weapons"]["description"]
    location = alarm["location"]
    assert (location["lat"], location["lon"], location["accuracy_m"]) == (51.0543, 3.7174, 8.0)
    assert location["geo"] == "geo:51.054300,3.717400;u=8"
    assert alarm["pressed_at"] == "2025-11-24T16:00:00.000Z"
    assert alarm["received_at"] == "2026-11-23T19:02:03.456Z"
    assert alarm["committed_at"] == receipt["committed_at"]
    # Pushed after the commit, never before; how soon is a figure (msa bench latency).
    assert ms(alarm["pushed_at"]) >= ms(alarm["committed_at"])


async def test_a_test_alarm_is_marked_as_a_test(server):
    async with console(server) as (client, stream):
        await stream.until_ready()
        await press(client, 1, frame.TEST_ALARM)
        _, alarm = await stream.next()
    assert (alarm["kind"], alarm["test"]) == ("test_alarm", True)
    assert alarm["headline"].startswith("TEST ALARM") and "no patrol" in alarm["headline"]


async def test_open_alarms_come_first_on_connect_and_are_audited(server, database_url):
    async with httpx.AsyncClient(base_url=server.url) as client:
        first, _, second = [
            await press(client, 1),
            await press(client, 2, frame.HEARTBEAT),
            await press(client, 3, frame.TEST_ALARM),
        ]
    async with console(server) as (client, stream):
        backlog = await stream.until_ready()
        assert [a["alarm_id"] for a in backlog] == [first["alarm_id"], second["alarm_id"]]
        for receipt in (first, second):
            assert await alarm_audit(client, receipt["alarm_id"]) == [("operator:1", "alarm.push")]
    pushed = [(e.actor, e.action, e.subject) for e in await audit_trail(database_url)]
    assert pushed == [
        ("operator:1", "alarm.push", f"alarm:{first['alarm_id']}"),
        ("operator:1", "alarm.push", f"alarm:{second['alarm_id']}"),
    ]


async def test_a_duplicate_or_a_heartbeat_is_not_pushed(server):
    async with console(server) as (client, stream):
        await stream.until_ready()
        first = await press(client, 1)
        assert (await stream.next())[1]["alarm_id"] == first["alarm_id"]
        assert (await press(client, 1))["status"] == "duplicate"
        await press(client, 2, frame.HEARTBEAT)
        second = await press(client, 3)
        # Anything pushed for the duplicate or the heartbeat would come before this.
        assert (await stream.next())[1]["alarm_id"] == second["alarm_id"]


async def test_every_live_delivery_is_audited(server, database_url):
    async with console(server) as (client, stream):
        await stream.until_ready()
        first = await press(client, 1)
        await stream.next()
        await press(client, 2)
        await stream.next()
        assert await alarm_audit(client, first["alarm_id"]) == [("operator:1", "alarm.push")]
    trail = await audit_trail(database_url)
    entry = trail[0]
    assert (entry.actor, entry.action, entry.subject) == (
        "operator:1",
        "alarm.push",
        f"alarm:{first['alarm_id']}",
    )
    assert entry.case_id == 1 and entry.at > 0


async def test_the_stream_and_alarm_reads_need_an_operator(server):
    async with httpx.AsyncClient(base_url=server.url) as client:
        for headers in ({}, PHONE, {"Authorization": "Bearer nobody"}):
            response = await client.get(STREAM, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"] == "unauthorized"
            assert (await client.get("/api/v1/alarms/1", headers=headers)).status_code == 401
        page = await client.get("/console")
        assert page.status_code == 401
        assert "msa backend login-link" in page.text


async def test_a_login_link_opens_a_session_for_the_page_and_the_stream(server, database_url):
    async with httpx.AsyncClient(base_url=server.url) as client:
        login = await client.get(await login_path(database_url))
        assert login.status_code == 303 and login.headers["location"] == "/console"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
        assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
        page = await client.get("/console")
        assert page.status_code == 200
        assert "/console/static/console.js" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        script = await client.get("/console/static/console.js")
        assert script.status_code == 200 and "EventSource" in script.text
        async with client.stream("GET", STREAM) as response:
            assert response.status_code == 200
            assert await EventStream(response).until_ready() == []


async def test_an_alarm_read_is_audited(server, database_url):
    async with httpx.AsyncClient(base_url=server.url) as client:
        receipt = await press(client, 1)
        read = await client.get(f"/api/v1/alarms/{receipt['alarm_id']}", headers=OPERATOR)
        missing = await client.get("/api/v1/alarms/999", headers=OPERATOR)
    assert read.status_code == 200
    assert read.json()["headline"] == "STALKING ALARM"
    assert read.json()["committed_at"] == receipt["committed_at"]
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_alarm"
    trail = await audit_trail(database_url)
    assert [(e.action, e.subject) for e in trail] == [
        ("alarm.read", f"alarm:{receipt['alarm_id']}")
    ]


async def test_sigterm_ends_the_streams_and_exits_cleanly(server):
    async with console(server) as (_, stream):
        await stream.until_ready()
        exit_code = await asyncio.to_thread(server.stop)
        with pytest.raises((EOFError, httpx.RemoteProtocolError)):
            await stream.next()
    assert exit_code == 0


async def test_each_workflow_step_is_pushed_as_an_update(server, database_url):
    async with console(server) as (client, stream):
        await stream.until_ready()
        receipt = await press(client, 1)
        assert (await stream.next())[0] == "alarm"
        alarm_id = receipt["alarm_id"]
        for name, data, status in [
            ("acknowledge", {}, "acknowledged"),
            ("dispatch", {"patrol": "GE-21", "zone": "PZ Gent"}, "dispatched"),
        ]:
            answer = await client.post(
                f"/api/v1/alarms/{alarm_id}/{name}", json=data, headers=OPERATOR
            )
            assert answer.status_code == 200
            event, update = await stream.next()
            assert (event, update["alarm_id"], update["status"], update["change"]) == (
                "update",
                alarm_id,
                status,
                name,
            )
        fix = {"lat": 51.0969, "lon": 3.8742, "accuracy_m": 9, "fix_at": "2026-11-23T19:03:10Z"}
        moved = await client.post(f"/api/v1/alarms/{alarm_id}/locations", json=fix, headers=PHONE)
        assert moved.status_code == 200
        event, update = await stream.next()
    assert (event, update["change"], update["intervention_zone"]) == (
        "update",
        "location",
        "PZ Lochristi",
    )
    assert len(update["trail"]) == 2 and update["revision"] == 3
    # Updates are not audited as new deliveries: the alarm was pushed once.
    async with httpx.AsyncClient(base_url=server.url) as client:
        audited = await alarm_audit(client, alarm_id)
    assert [action for _, action in audited].count("alarm.push") == 1


async def test_a_closed_alarm_leaves_the_backlog(server):
    async with httpx.AsyncClient(base_url=server.url) as client:
        closed, still_open = (
            (await press(client, 1))["alarm_id"],
            (await press(client, 2))["alarm_id"],
        )
        for name, data in [
            ("acknowledge", {}),
            ("dispatch", {"patrol": "GE-21", "zone": "PZ Gent"}),
            ("on-scene", {}),
            ("close", {"outcome": "false"}),
        ]:
            answer = await client.post(
                f"/api/v1/alarms/{closed}/{name}", json=data, headers=OPERATOR
            )
            assert answer.status_code == 200
        acked = await client.post(
            f"/api/v1/alarms/{still_open}/acknowledge", json={}, headers=OPERATOR
        )
        assert acked.status_code == 200
    async with console(server) as (_, stream):
        backlog = await stream.until_ready()
    assert [(a["alarm_id"], a["status"]) for a in backlog] == [(still_open, "acknowledged")]


async def test_a_revoked_buttons_frame_is_a_security_notice_live_and_on_connect(
    server, database_url
):
    store = await open_store(database_url)
    try:
        assert (await store.revoke_device(DEVICE_ID, "lost")).revoked_now
    finally:
        await store.close()
    async with console(server) as (client, stream):
        await stream.until_ready()
        assert stream.notices == []
        for _ in range(2):  # the phone's retry is the same frame: one notice
            answer = await client.post("/api/v1/frames", json=body(signed(4)), headers=PHONE)
            assert answer.status_code == 403 and answer.json()["error"] == "key_revoked"
        heartbeat = signed(5, frame.HEARTBEAT)
        await client.post("/api/v1/frames", json=body(heartbeat), headers=PHONE)
        live = [await stream.next(), await stream.next()]
    assert [(name, n["counter"], n["frame"]) for name, n in live] == [
        ("security", 4, "alarm"),
        ("security", 5, "heartbeat"),
    ]
    notice = live[0][1]
    assert notice["device_status"] == "lost" and notice["device_id"] == f"{DEVICE_ID:08x}"
    assert f"lost button {DEVICE_ID:08x}" in notice["text"]
    async with console(server) as (_, stream):  # a console that connects later sees them
        assert await stream.until_ready() == []
        assert [n["counter"] for n in stream.notices] == [4, 5]
