"""The operator's workflow over HTTP, on both engines: forward only, never closed
without a patrol, idempotent, audited; a refusal changes nothing."""

from __future__ import annotations

import asyncio

import pytest

from msa.backend.seed import DEMO_MAGISTRATE, DEMO_OPERATOR
from protocol import frame
from tests.backend.util import DEVICE_ID, OPERATOR, PHONE, body, signed

PV = "GE.60.L1.004321/26"
DISPATCH = {"patrol": "GE-21", "zone": "PZ Gent"}


async def press(backend, counter=1, kind=frame.ALARM):
    response = await backend.client.post(
        "/api/v1/frames", json=body(signed(counter, kind)), headers=PHONE
    )
    assert response.status_code == 200, response.text
    return response.json()["alarm_id"]


async def step(backend, alarm_id, name, data=None, headers=OPERATOR):
    return await backend.client.post(
        f"/api/v1/alarms/{alarm_id}/{name}", json={} if data is None else data, headers=headers
    )


async def done(backend, alarm_id, name, data=None):
    response = await step(backend, alarm_id, name, data)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "done"
    return response.json()


async def snapshot(backend, alarm_id):
    """Everything a refused request must leave as it was."""
    alarm = await backend.store.alarm(alarm_id)
    case = alarm.case
    return (
        await backend.store.counts(),
        alarm.status,
        alarm.revision,
        alarm.workflow,
        case.ends_on,
        case.support_started_on,
    )


async def test_an_alarm_is_worked_to_closed_and_every_step_is_audited(backend):
    alarm_id = await press(backend)
    ack = await done(backend, alarm_id, "acknowledge")
    assert ack["alarm"]["status"] == "acknowledged"
    assert ack["alarm"]["workflow"]["acknowledged"]["by"] == DEMO_OPERATOR
    assert ack["alarm"]["next_steps"] == ["dispatch"]
    dispatched = await done(backend, alarm_id, "dispatch", DISPATCH)
    assert dispatched["alarm"]["workflow"]["dispatched"] | {"at": None} == {
        "at": None,
        "by": DEMO_OPERATOR,
        "patrol": "GE-21",
        "zone": "PZ Gent",
    }
    await done(backend, alarm_id, "on-scene")
    closed = await done(backend, alarm_id, "close", {"outcome": "real", "pv_number": PV})

    event = closed["alarm"]
    assert event["status"] == "closed" and event["next_steps"] == []
    assert (event["workflow"]["closed"]["outcome"], event["workflow"]["closed"]["pv_number"]) == (
        "real",
        PV,
    )
    # A real alarm extends the measure by nine months, from its current end.
    assert closed["extended_to"] == "2028-04-05"
    assert event["case"]["ends_on"] == "2028-04-05"
    assert event["magistrate"]["status"] == "queued"
    assert event["magistrate"]["recipient"] == DEMO_MAGISTRATE
    steps = ["alarm.acknowledge", "alarm.dispatch", "alarm.on_scene", "alarm.close", "case.extend"]
    assert [h["action"] for h in event["history"]] == steps
    assert {h["by"] for h in event["history"]} == {DEMO_OPERATOR}
    assert event["history"][1]["detail"] == "patrol GE-21 (PZ Gent)"
    times = [h["at"] for h in event["history"]]
    assert times == sorted(times)

    trail = await backend.client.get(f"/api/v1/alarms/{alarm_id}/audit", headers=OPERATOR)
    assert trail.status_code == 200
    audited = [(e["actor"], e["action"]) for e in trail.json()["audit"]]
    assert audited == [("operator:1", action) for action in steps]
    counts = await backend.store.counts()
    assert (counts["notifications"], counts["measure_extensions"]) == (1, 1)
    missing = await backend.client.get(f"/api/v1/alarms/{alarm_id + 1}/audit", headers=OPERATOR)
    assert (missing.status_code, missing.json()["error"]) == (404, "unknown_alarm")


@pytest.mark.parametrize("before", [[], ["acknowledge"]])
async def test_an_alarm_is_never_closed_without_a_dispatched_patrol(backend, before):
    alarm_id = await press(backend)
    for name in before:
        await done(backend, alarm_id, name)
    unchanged = await snapshot(backend, alarm_id)

    for outcome in ("real", "false", "test", "misuse"):
        refused = await step(backend, alarm_id, "close", {"outcome": outcome, "pv_number": PV})
        assert refused.status_code == 409
        assert refused.json()["error"] == "invalid_transition"
        assert "never closed without a dispatched patrol" in refused.json()["detail"]

    assert await snapshot(backend, alarm_id) == unchanged


async def test_the_database_refuses_a_closed_alarm_without_a_patrol(backend):
    """Belt and braces: the CHECK in 0002_workflow.sql, under the rules in Python."""
    alarm_id = await press(backend)
    with pytest.raises(Exception, match="(?i)check"):
        async with backend.store._transaction() as conn:
            await conn.execute(
                "UPDATE alarms SET status = 'closed', outcome = 'false' WHERE id = $1", alarm_id
            )
    assert (await backend.store.alarm(alarm_id)).status == "open"


async def test_steps_go_forward_only_and_a_repeat_is_unchanged(backend):
    alarm_id = await press(backend)
    refused = await step(backend, alarm_id, "on-scene")
    assert (refused.status_code, refused.json()["error"]) == (409, "invalid_transition")
    assert "acknowledge it first" in refused.json()["detail"]
    await done(backend, alarm_id, "acknowledge")
    await done(backend, alarm_id, "dispatch", DISPATCH)
    before = await snapshot(backend, alarm_id)

    for name, data in [("acknowledge", None), ("dispatch", DISPATCH)]:
        again = await step(backend, alarm_id, name, data)
        assert (again.status_code, again.json()["result"]) == (200, "unchanged")
    other = await step(backend, alarm_id, "dispatch", {"patrol": "GE-99", "zone": "PZ Gent"})
    assert (other.status_code, other.json()["error"]) == (409, "already_dispatched")
    assert "GE-21" in other.json()["detail"]
    assert await snapshot(backend, alarm_id) == before

    await done(backend, alarm_id, "on-scene")
    await done(backend, alarm_id, "close", {"outcome": "false"})
    closed = await snapshot(backend, alarm_id)
    again = await step(backend, alarm_id, "close", {"outcome": "false"})
    assert (again.status_code, again.json()["result"]) == (200, "unchanged")
    changed = await step(backend, alarm_id, "close", {"outcome": "real", "pv_number": PV})
    assert (changed.status_code, changed.json()["error"]) == (409, "already_closed")
    for name in ("acknowledge", "on-scene"):
        assert (await step(backend, alarm_id, name)).json()["result"] == "unchanged"
    assert await snapshot(backend, alarm_id) == closed


@pytest.mark.parametrize(
    ("name", "data", "status", "error", "says"),
    [
        ("dispatch", {"zone": "PZ Gent"}, 400, "invalid_request", "'patrol'"),
        ("dispatch", {"patrol": "  ", "zone": "PZ Gent"}, 400, "invalid_request", "'patrol'"),
        ("dispatch", {"patrol": "GE-21", "zone": "PZ Nergens"}, 400, "invalid_request", "zone"),
        ("dispatch", {"patrol": 21, "zone": "PZ Gent"}, 400, "invalid_request", "string"),
        ("close", {"outcome": "cancelled"}, 400, "invalid_request", "real, false, test, misuse"),
        ("close", {"outcome": "real"}, 400, "invalid_request", "PV number"),
        ("close", {"outcome": "misuse", "pv_number": ""}, 400, "invalid_request", "PV"),
        ("close", {"outcome": "real", "pv_number": "<script>"}, 400, "invalid_request", "pv"),
        ("close", [], 400, "invalid_request", "JSON object"),
        ("cancel", {}, 404, "unknown_step", "cannot be cancelled"),
    ],
)
async def test_bad_step_data_is_refused_and_changes_nothing(
    backend, name, data, status, error, says
):
    alarm_id = await press(backend)
    await done(backend, alarm_id, "acknowledge")
    if name == "close":
        await done(backend, alarm_id, "dispatch", DISPATCH)
        await done(backend, alarm_id, "on-scene")
    before = await snapshot(backend, alarm_id)

    response = await step(backend, alarm_id, name, data)

    assert (response.status_code, response.json()["error"]) == (status, error)
    assert says.lower() in response.json()["detail"].lower()
    assert await snapshot(backend, alarm_id) == before


async def test_a_step_must_be_json_and_name_a_known_alarm(backend):
    alarm_id = await press(backend)
    before = await snapshot(backend, alarm_id)
    form = await backend.client.post(
        f"/api/v1/alarms/{alarm_id}/acknowledge",
        content="x=1",
        headers={**OPERATOR, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (form.status_code, form.json()["error"]) == (415, "unsupported_media_type")
    broken = await backend.client.post(
        f"/api/v1/alarms/{alarm_id}/acknowledge",
        content="{",
        headers={**OPERATOR, "Content-Type": "application/json"},
    )
    assert (broken.status_code, broken.json()["error"]) == (400, "invalid_request")
    missing = await step(backend, 999, "acknowledge")
    assert (missing.status_code, missing.json()["error"]) == (404, "unknown_alarm")
    assert await snapshot(backend, alarm_id) == before


async def test_the_phone_cannot_change_an_alarm_and_nothing_cancels_one(backend):
    alarm_id = await press(backend)
    before = await snapshot(backend, alarm_id)
    for name, data in [
        ("acknowledge", None),
        ("dispatch", DISPATCH),
        ("on-scene", None),
        ("close", {"outcome": "false"}),
        ("confirm-test", None),
        ("cancel", None),
    ]:
        response = await step(backend, alarm_id, name, data, headers=PHONE)
        assert response.status_code in (401, 404), (name, response.text)
        assert response.json()["error"] in ("unauthorized", "unknown_step")
    for method in ("DELETE", "PUT", "PATCH"):
        response = await backend.client.request(method, f"/api/v1/alarms/{alarm_id}", headers=PHONE)
        assert response.status_code == 405
    assert await snapshot(backend, alarm_id) == before


async def test_false_and_misuse_outcomes(backend):
    false_id = await press(backend, 1)
    misuse_id = await press(backend, 2)
    for alarm_id in (false_id, misuse_id):
        for name, data in [("acknowledge", None), ("dispatch", DISPATCH), ("on-scene", None)]:
            await done(backend, alarm_id, name, data)
    false = await done(backend, false_id, "close", {"outcome": "false"})
    misuse = await done(backend, misuse_id, "close", {"outcome": "misuse", "pv_number": PV})
    # A false alarm: no PV needed, the magistrate is not told, the measure is not extended.
    assert false["alarm"]["workflow"]["closed"]["pv_number"] is None
    assert false["alarm"]["magistrate"] == {"status": "not_required"}
    assert false["extended_to"] is None and misuse["extended_to"] is None
    assert misuse["alarm"]["magistrate"]["status"] == "queued"
    assert misuse["alarm"]["case"]["ends_on"] == "2027-07-05"
    counts = await backend.store.counts()
    assert (counts["notifications"], counts["measure_extensions"]) == (1, 0)


async def test_two_real_alarms_extend_the_measure_twice(backend):
    ids = [await press(backend, 1), await press(backend, 2)]
    for alarm_id in ids:
        for name, data in [("acknowledge", None), ("dispatch", DISPATCH), ("on-scene", None)]:
            await done(backend, alarm_id, name, data)
    closes = await asyncio.gather(
        *(step(backend, i, "close", {"outcome": "real", "pv_number": PV}) for i in ids)
    )
    assert sorted(r.json()["extended_to"] for r in closes) == ["2028-04-05", "2029-01-05"]
    assert (await backend.store.alarm(ids[0])).case.ends_on == "2029-01-05"


async def test_a_provisioning_test_alarm_is_confirmed_and_support_starts(backend):
    test_id = await press(backend, 1, frame.TEST_ALARM)
    event = (await backend.client.get(f"/api/v1/alarms/{test_id}", headers=OPERATOR)).json()
    assert (event["test"], event["headline"]) == (True, "TEST ALARM (provisioning test, no patrol)")
    assert event["case"]["support_started_on"] is None
    await done(backend, test_id, "acknowledge")
    no_patrol = await step(backend, test_id, "dispatch", DISPATCH)
    assert (no_patrol.status_code, no_patrol.json()["error"]) == (409, "test_alarm")

    confirmed = await done(backend, test_id, "confirm-test")

    assert confirmed["alarm"]["status"] == "closed"
    assert confirmed["alarm"]["workflow"]["closed"]["outcome"] == "test"
    assert confirmed["alarm"]["case"]["support_started_on"] == "2026-11-23"  # RECEIVED_AT, Brussels
    assert confirmed["alarm"]["magistrate"] == {"status": "not_applicable"}
    assert [h["action"] for h in confirmed["alarm"]["history"]] == [
        "alarm.acknowledge",
        "alarm.confirm_test",
        "case.support_start",
    ]
    # What msa provision waits for: a confirmed test of this person's button, this epoch.
    person = backend.seeded["person_id"]
    assert await backend.store.test_alarm_confirmed(DEVICE_ID, person, 0)
    assert not await backend.store.test_alarm_confirmed(DEVICE_ID, person, 1)  # a later key
    assert not await backend.store.test_alarm_confirmed(DEVICE_ID, person + 1, 0)
    # A stalking alarm is never confirmed as a test.
    real_id = await press(backend, 2)
    await done(backend, real_id, "acknowledge")
    refused = await step(backend, real_id, "confirm-test")
    assert (refused.status_code, refused.json()["error"]) == (409, "not_a_test")


async def test_racing_acknowledgements_record_one(backend):
    alarm_id = await press(backend)
    answers = await asyncio.gather(*(step(backend, alarm_id, "acknowledge") for _ in range(8)))
    assert sorted(a.json()["result"] for a in answers) == ["done"] + ["unchanged"] * 7
    audit = await backend.store.alarm_audit(alarm_id)
    assert [e.action for e in audit] == ["alarm.acknowledge"]


async def test_the_audit_trail_cannot_be_changed(backend):
    alarm_id = await press(backend)
    await done(backend, alarm_id, "acknowledge")
    for sql in ("UPDATE audit SET actor = 'nobody'", "DELETE FROM audit"):
        with pytest.raises(Exception, match="append-only"):
            async with backend.store._transaction() as conn:
                await conn.execute(sql)
    assert [e.actor for e in await backend.store.alarm_audit(alarm_id)] == ["operator:1"]


async def test_zones_are_listed_for_the_dispatch_form(backend):
    response = await backend.client.get("/api/v1/zones", headers=OPERATOR)
    assert response.status_code == 200
    assert {"PZ Gent", "PZ Lochristi"} <= set(response.json()["zones"])
    assert (await backend.client.get("/api/v1/zones", headers=PHONE)).status_code == 401
