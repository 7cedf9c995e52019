"""The OpenAPI description against the implementation: valid, served, the same
routes as the app, and every answer it documents given and matching its schema.
(The `backend` fixture checks every answer of every backend test as well.)"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from starlette.routing import Match, Route

from msa.backend import actions
from msa.backend.auth import hash_token
from msa.backend.case_life import RISK_KEYS
from msa.backend.login import issue_login_link
from msa.backend.openapi import STEPS, document
from msa.backend.seed import DEMO_CASE, DEMO_OPERATOR
from msa.backend.store.sessions import session_store
from msa.backend.throttle import FailureThrottle
from protocol import frame
from tests.backend.contract import Contract
from tests.backend.util import DEVICE_ID, KEY, OPERATOR, PHONE, body, signed

# What a test cannot provoke on purpose: a database failing at that instant (the
# 503s are tested in test_ingest.py with PostgreSQL stopped), and a stream that
# ASGITransport cannot hold open.
EXEMPT_STATUSES = {"503", "500"}  # 500: tests/backend/test_hostile_input.py
EXEMPT = {("GET", "/api/v1/console/stream", "200")}
OTHER_ROLE = "other-role-token"
LISTS = ("/api/v1/zones", "/api/v1/inventory")  # an operator's reads without a parameter
PAGES = ("/console", "/inventory", "/zone", "/magistrate", "/support")  # an operator's pages
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "case.json"
REPORT_PAGES = ("/zone/reports", "/zone/reports/{report_id}")  # a zone officer's


def test_the_description_is_valid_openapi_3_1():
    doc = document()
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_documented_operations_and_the_apps_routes_are_the_same(backend):
    # Every route: the API's, and the console's pages (only its static files are not).
    api_routes = [route for route in backend.app.routes if isinstance(route, Route)]
    reached = set()
    for template, operations in document()["paths"].items():
        concrete = template
        for name in ("{alarm_id}", "{event_id}", "{report_id}", "{case_id}", "{request_id}"):
            concrete = concrete.replace(name, "7")
        for method in operations:
            scope = {"type": "http", "path": concrete, "method": method.upper()}
            matches = [
                route for route in backend.app.routes if route.matches(scope)[0] == Match.FULL
            ]
            assert matches, f"{method.upper()} {template} is documented but not served"
            reached.add(matches[0].path)
    assert {route.path for route in api_routes} == reached, "a served route is not documented"
    # The one route that serves the steps serves exactly the documented ones: no cancel.
    assert set(actions.STEPS) == set(STEPS)
    assert not any("cancel" in path for path in document()["paths"])


async def test_it_is_served(backend):
    response = await backend.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json() == document()


async def test_every_documented_answer_is_given_and_matches(backend):
    client = backend.client
    store = backend.store
    # An operator of another role, for the 403s: a zone officer (and the CIC for theirs).
    await store.add_operator("zone officer", hash_token(OTHER_ROLE), "zone_officer", "PZ Gent")
    other_role = {"Authorization": f"Bearer {OTHER_ROLE}"}
    await store.add_operator("desk", hash_token("tech-desk"), "tech_desk")
    tech_desk = {"Authorization": "Bearer tech-desk"}
    nobody = {"Authorization": "Bearer nobody"}
    # Room for the refusals below; the throttle's own answers come at the end.
    policy = backend.app.state.session_policy
    policy.throttle = FailureThrottle(burst=1000, clock=policy.now)

    async def post(path, data, headers):
        return await client.post(path, json=data, headers=headers)

    # POST /api/v1/frames, every answer.
    receipt = (await post("/api/v1/frames", body(signed(1)), PHONE)).json()
    alarm = receipt["alarm_id"]
    await post("/api/v1/frames", body(signed(1)), PHONE)  # duplicate, 200
    await post("/api/v1/frames", {"frame": "00"}, PHONE)  # 400
    await post("/api/v1/frames", body(signed(2)), nobody)  # 401
    await store.register_device(0x00BADBAD, bytes(32), backend.seeded["person_id"])
    await post("/api/v1/frames", body(signed(2, device_id=0x00BADBAD, key=bytes(32))), PHONE)  # 403
    await post("/api/v1/frames", body(signed(2, device_id=0x00DEAD00)), PHONE)  # 404
    await post("/api/v1/frames", body(signed(1 << 24 | 1)), PHONE)  # 403 wrong_epoch
    await post("/api/v1/frames", body(signed(1, battery_mv=1)), PHONE)  # 409
    await post("/api/v1/frames", body(signed(2, key=bytes(32))), PHONE)  # 422
    await post("/api/v1/frames", body(b"\x02" + signed(2)[1:]), PHONE)  # 501
    late = body(signed(2, frame.HEARTBEAT), received_at="2999-01-01T00:00:00Z")
    await post("/api/v1/frames", late, PHONE)  # 400 invalid_time

    # The phone's fixes.
    fix = {"lat": 51.05, "lon": 3.72, "accuracy_m": 5, "fix_at": "2026-11-23T19:03:10Z"}
    locations = f"/api/v1/alarms/{alarm}/locations"
    await post(locations, fix, PHONE)  # 200
    await post(locations, {"lat": 51.05}, PHONE)  # 400
    await post(locations, {**fix, "fix_at": "2019-01-01T00:00:00Z"}, PHONE)  # 400 invalid_time
    await post(locations, fix, nobody)  # 401
    await post("/api/v1/alarms/999/locations", fix, PHONE)  # 404
    await store.link_phone(hash_token("second-phone"), backend.seeded["person_id"], 0x00BADBAD)
    await post(locations, fix, {"Authorization": "Bearer second-phone"})  # 403

    # The phone's own reports.
    off = {"bluetooth_off_at": "2026-11-23T08:00:00Z", "bluetooth_on_at": "2026-11-23T08:30:00Z"}
    await post("/api/v1/link-reports", off, PHONE)  # 200
    await post("/api/v1/link-reports", {**off, "bluetooth_on_at": "2026-11-23T09:00:00Z"}, PHONE)
    await post("/api/v1/link-reports", {"bluetooth_off_at": 1}, PHONE)  # 400
    await post("/api/v1/link-reports", {**off, "bluetooth_on_at": "2999-01-01T00:00Z"}, PHONE)
    await post("/api/v1/link-reports", off, nobody)  # 401
    await post("/api/v1/check-ins", {"at": "2026-11-23T08:00:00Z"}, PHONE)  # 200
    await post("/api/v1/check-ins", {}, PHONE)  # 400
    await post("/api/v1/check-ins", {"at": "2999-01-01T00:00:00Z"}, PHONE)  # 400 invalid_time
    await post("/api/v1/check-ins", {"at": "2026-11-23T08:00:00Z"}, nobody)  # 401

    # The console's reads.
    for path in (f"/api/v1/alarms/{alarm}", f"/api/v1/alarms/{alarm}/audit", *LISTS):
        for headers in (OPERATOR, nobody, other_role, tech_desk):
            await client.get(path, headers=headers)
    for path in ("/api/v1/alarms/999", "/api/v1/alarms/999/audit"):
        await client.get(path, headers=OPERATOR)
    await client.get("/api/v1/console/stream", headers=nobody)
    await client.get("/api/v1/console/stream", headers=other_role)
    await client.get("/api/v1/console/stream", headers={**OPERATOR, "Last-Event-ID": "x"})  # 400
    await client.get("/api/v1/openapi.json")

    # Every step: its refusals, then taken.
    test_alarm = (await post("/api/v1/frames", body(signed(3, frame.TEST_ALARM)), PHONE)).json()
    steps = f"/api/v1/alarms/{alarm}"
    dispatch = {"patrol": "GE-21", "zone": "PZ Gent"}
    close = {"outcome": "real", "pv_number": "GE.60.L1.004321/26"}
    for name, data in [("dispatch", dispatch), ("on-scene", {})]:
        await post(f"{steps}/{name}", data, OPERATOR)  # 409: acknowledge it first
    for name, data in [
        ("acknowledge", {}),
        ("dispatch", dispatch),
        ("on-scene", {}),
        ("close", close),
    ]:
        await post(f"{steps}/{name}", data, nobody)  # 401
        await post(f"{steps}/{name}", data, other_role)  # 403
        await post(f"/api/v1/alarms/999/{name}", data, OPERATOR)  # 404
        await client.post(
            f"{steps}/{name}", content="x", headers={**OPERATOR, "Content-Type": "text/plain"}
        )  # 415
        await post(f"{steps}/{name}", [], OPERATOR)  # 400
        if name != "acknowledge":
            await post(f"{steps}/close", close, OPERATOR)  # 409, out of order
        await post(f"{steps}/{name}", data, OPERATOR)  # 200
    await post(f"{steps}/close", {**close, "outcome": "misuse"}, OPERATOR)  # 409, already closed

    test_steps = f"/api/v1/alarms/{test_alarm['alarm_id']}"
    for data, headers in [([], OPERATOR), ({}, nobody), ({}, other_role)]:
        await post(f"{test_steps}/confirm-test", data, headers)  # 400, 401, 403
    await post("/api/v1/alarms/999/confirm-test", {}, OPERATOR)  # 404
    await client.post(
        f"{test_steps}/confirm-test",
        content="x",
        headers={**OPERATOR, "Content-Type": "text/plain"},
    )  # 415
    await post(f"{test_steps}/confirm-test", {}, OPERATOR)  # 409: acknowledge it first
    await post(f"{test_steps}/acknowledge", {}, OPERATOR)
    await post(f"{test_steps}/confirm-test", {}, OPERATOR)  # 200
    await post(locations, {**fix, "fix_at": "2026-11-23T19:04:00Z"}, PHONE)  # 409: closed

    # Supervision: a stuck button's event, for its zone's officer.
    stuck = frame.heartbeat_payload(1764000000, 3900, 60, 80, frame.STUCK)
    await post("/api/v1/frames", body(frame.sign(KEY, frame.HEARTBEAT, DEVICE_ID, 9, stuck)), PHONE)
    await backend.sweep(backend.clock())
    (event,) = await store.supervision_events()
    for headers in (other_role, OPERATOR, nobody):
        await client.get("/api/v1/supervision", headers=headers)  # 200, 200, 401
    for prefix in ("/api/v1/supervision", "/zone/events"):
        for headers in (nobody, OPERATOR):  # 401; 403: an unwatched case's, for the CIC
            await client.post(f"{prefix}/{event.id}/acknowledge", headers=headers)
        await client.post(f"{prefix}/999999/acknowledge", headers=other_role)  # 404
    await client.post(f"/api/v1/supervision/{event.id}/acknowledge", headers=other_role)  # 200
    await client.post(f"/zone/events/{event.id}/acknowledge", headers=other_role)  # 303
    await client.get("/zone", headers=other_role)  # 200
    await client.get("/inventory", headers=tech_desk)  # 200

    # The zone's daily reports.
    await store.set_report_schedule("PZ Gent", "07:00", "ref@pz-gent.example", "2026-11-20")
    (schedule,) = await store.report_schedules()
    report_id = await store.make_report(schedule, dt.date(2026, 11, 21), backend.clock())
    for path in ("/api/v1/zone-reports", f"/api/v1/zone-reports/{report_id}", *REPORT_PAGES):
        for headers in (other_role, OPERATOR, nobody):  # 200, 403, 401
            await client.get(path.format(report_id=report_id), headers=headers)
    for path in ("/api/v1/zone-reports/999999", "/zone/reports/999999"):
        await client.get(path, headers=other_role)  # 404
    for path, send in (
        ("/api/v1/zone-reports/schedule", "json"),
        ("/zone/reports/schedule", "data"),
    ):
        for data, headers in (
            ({"at": "06:30", "email": "ref@pz-gent.example"}, other_role),  # 200 / 303
            ({"at": "25:99", "email": "ref@pz-gent.example"}, other_role),  # 400
            ({"at": "06:30", "email": "ref@pz-gent.example"}, nobody),  # 401
            ({"at": "06:30", "email": "ref@pz-gent.example"}, OPERATOR),  # 403
        ):
            await client.post(path, headers=headers, **{send: data})

    # The zone's cases: the demo case, and one that has ended.
    ended = await store.create_case(replace(DEMO_CASE, reference="ENDED-1"))
    await store.end_case("ENDED-1", dt.date(2026, 11, 20), "victim_request", "test", 0)
    case_id = backend.seeded["case_id"]
    for headers in (other_role, OPERATOR, nobody):  # 200, 403, 401
        await client.get("/api/v1/zone-cases", headers=headers)
    for name in ("revisit", "reevaluation", "extend", "cic-watch"):
        for prefix, send in (("/api/v1/cases", "json"), ("/zone/cases", "data")):
            good = {"reason": "new threats", "watch": "yes"}
            attempts = [
                (case_id, good, other_role),  # 200 / 303
                (case_id, {"on": "1999-01-01", "reason": "x", "watch": "x"}, other_role),  # 400
                (999999, good, other_role),  # 404
                (ended.case_id, good, other_role),  # 409
                (case_id, good, nobody),  # 401
                (case_id, good, OPERATOR),  # 403
            ]
            for target, data, headers in attempts:
                await client.post(f"{prefix}/{target}/{name}", headers=headers, **{send: data})

    # The district's: the magistrate decides requests; victim support reads.
    await store.add_operator(
        "mag", hash_token("magistrate"), "magistrate", district=DEMO_CASE.judicial_district
    )
    await store.add_operator(
        "vs", hash_token("support"), "victim_support", district=DEMO_CASE.judicial_district
    )
    magistrate = {"Authorization": "Bearer magistrate"}
    support = {"Authorization": "Bearer support"}
    draft = EXAMPLE.read_text(encoding="utf-8")
    request_ids = {}
    for reference in ("REQ-API", "REQ-FORM", "REQ-UNASSESSED"):
        data = {**json.loads(draft), "reference": reference, "managing_zone": "PZ Gent",
                "judicial_district": DEMO_CASE.judicial_district}  # fmt: skip
        await store.request_case(
            reference, "police", dt.date(2026, 11, 20), "PZ Gent", DEMO_CASE.judicial_district,
            json.dumps(data), "test", 0,
        )  # fmt: skip
        if reference != "REQ-UNASSESSED":
            await store.assess_risk(reference, dict.fromkeys(RISK_KEYS, True), "test", 0)
        district_id = await store.district_id(DEMO_CASE.judicial_district)
        (found,) = [
            r for r in await store.district_requests(district_id) if r.reference == reference
        ]
        request_ids[reference] = found.id
    for path, owner in (("/api/v1/requests", magistrate), ("/api/v1/support/cases", support)):
        for headers in (owner, OPERATOR, nobody):  # 200, 403, 401
            await client.get(path, headers=headers)
    for path in ("/magistrate", "/support"):
        await client.get(path, headers=magistrate if path == "/magistrate" else support)  # 200
    for prefix, send, reference in (
        ("/api/v1/requests", "json", "REQ-API"), ("/magistrate/requests", "data", "REQ-FORM")
    ):  # fmt: skip
        url = f"{prefix}/{request_ids[reference]}/decide"
        grant = {"decision": "grant"}
        for target, data, headers in (
            (url, {"decision": "maybe"}, magistrate),  # 400
            (f"{prefix}/999999/decide", grant, magistrate),  # 404
            (f"{prefix}/{request_ids['REQ-UNASSESSED']}/decide", grant, magistrate),  # 409
            (url, grant, nobody),  # 401
            (url, grant, OPERATOR),  # 403
            (url, grant, magistrate),  # 200 / 303
            (url, grant, magistrate),  # 409: granted already
        ):
            await client.post(target, headers=headers, **{send: data})

    # The console's pages: log in (and each way it fails), the page, log out.
    for path in PAGES:
        await client.get(path)  # 401
        await client.get(path, headers=other_role if path != "/zone" else OPERATOR)  # 403
    await client.get("/console/login")  # 400
    await client.get("/console/login", params={"code": "not-a-code"})  # 401
    link = await issue_login_link(session_store(store), DEMO_OPERATOR)
    await client.get(link.path)  # 303, and the cookie
    for path in PAGES:
        await client.get(path)  # 200 (/zone: 403, the operator is the CIC's)
    await client.get("/console/logout")  # 200
    await client.post("/console/logout", headers={"Origin": "https://elsewhere.example"})  # 403
    await client.post("/console/logout", headers={"Origin": "http://backend"})  # 303

    # 429: an address out of log-in tries (with the clock stopped, it gets none back).
    stopped = policy.now()
    policy.clock = lambda: stopped
    policy.throttle = FailureThrottle(clock=policy.now)
    for _ in range(policy.throttle.burst):
        await client.get("/api/v1/zones", headers=nobody)  # 401
    for path in (f"/api/v1/alarms/{alarm}", f"/api/v1/alarms/{alarm}/audit", *LISTS):
        await client.get(path, headers=OPERATOR)  # 429 even so: not looked at
    await client.get("/api/v1/console/stream", headers=OPERATOR)
    for path in PAGES:
        await client.get(path, headers=OPERATOR)
    await client.get("/api/v1/supervision", headers=OPERATOR)
    await client.get("/api/v1/zone-cases", headers=OPERATOR)
    for path in ("/api/v1/requests", "/api/v1/support/cases"):
        await client.get(path, headers=OPERATOR)
    for path in ("/api/v1/zone-reports/schedule", "/zone/reports/schedule"):
        await client.post(path, headers=OPERATOR)
    for prefix in ("/api/v1/requests", "/magistrate/requests"):
        await client.post(f"{prefix}/{request_ids['REQ-API']}/decide", headers=OPERATOR)
    for name in ("revisit", "reevaluation", "extend", "cic-watch"):
        for prefix in ("/api/v1/cases", "/zone/cases"):
            await client.post(f"{prefix}/{case_id}/{name}", headers=OPERATOR)
    for path in ("/api/v1/zone-reports", f"/api/v1/zone-reports/{report_id}", *REPORT_PAGES):
        await client.get(path.format(report_id=report_id), headers=OPERATOR)
    for prefix in ("/api/v1/supervision", "/zone/events"):
        await client.post(f"{prefix}/{event.id}/acknowledge", headers=OPERATOR)
    await client.get(link.path)
    for name in STEPS:
        await post(f"{steps}/{name}", {}, OPERATOR)

    contract: Contract = backend.contract
    wanted = {
        answer
        for answer in contract.documented()
        if answer[2] not in EXEMPT_STATUSES and answer not in EXEMPT
    }
    missing = sorted(wanted - contract.seen)
    assert not missing, f"documented but never given: {missing}"


@pytest.mark.parametrize(
    ("status", "body_text"),
    [(200, b'{"status": "committed"}'), (418, b'{"error": "x", "detail": "y"}')],
)
def test_the_contract_catches_an_answer_it_does_not_document(status, body_text):
    contract = Contract()
    with pytest.raises(AssertionError):
        contract.check("POST", "/api/v1/frames", status, "application/json", body_text)
