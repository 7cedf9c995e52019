"""static/console.js renders real alarm events (run by Node on a stand-in DOM)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from msa.backend import console
from msa.backend.alarms import error_card
from msa.backend.store.base import UnreadableAlarm
from protocol import frame
from tests.backend.util import OPERATOR, PHONE, body, signed

HARNESS = Path(__file__).with_name("console_harness.js")
NODE = shutil.which("node")


@pytest.fixture(autouse=True)
def node() -> str:
    """Node.js; without it the test skips, unless MSA_REQUIRE_NODE=1 (CI), where it fails."""
    if NODE is None:
        if os.environ.get("MSA_REQUIRE_NODE") == "1":
            pytest.fail("MSA_REQUIRE_NODE=1, but there is no `node` (apt-get install nodejs)")
        pytest.skip("needs Node.js to run the console script")
    return NODE


def render(events):
    result = subprocess.run(
        [NODE, str(HARNESS), str(console.STATIC / "console.js")],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def alarm_json(backend, counter, kind=frame.ALARM, **changes):
    receipt = await backend.client.post(
        "/api/v1/frames", json=body(signed(counter, kind), **changes), headers=PHONE
    )
    event = await backend.client.get(
        f"/api/v1/alarms/{receipt.json()['alarm_id']}", headers=OPERATOR
    )
    return {**event.json(), "pushed_at": "2026-11-23T19:02:03.480Z"}


async def test_a_stalking_alarm_is_shown_with_its_context(backend):
    shown = render([await alarm_json(backend, 1)])
    assert shown["stream"] == "/api/v1/console/stream"
    assert shown["status"] == "live" and shown["empty_hidden"] is True
    assert shown["title"].startswith("STALKING ALARM")
    (card,) = shown["cards"]
    assert "test" not in card["classes"] and "new" in card["classes"]
    assert card["headline"] == "STALKING ALARM"
    assert card["banner_person"] == "Sarah Claes – +32 470 12 34 56"
    assert card["armed"] is True and card["weapons"].startswith("YES – Registered hunting rifle")
    assert "51.05430, 3.71740" in card["location"] and "±8 m" in card["location"]
    assert card["suspect"] == "Kevin De Smet"
    assert "GE.60.L1.012345/26" in card["case"] and "PZ Gent" in card["case"]
    assert "Committed" in card["times"] and "Shown" in card["times"]
    assert [row.split()[0] for row in card["addresses"]] == ["home", "work", "stay"]


async def test_a_test_alarm_and_a_confidential_person_without_location(backend):
    event = await alarm_json(backend, 1, frame.TEST_ALARM, location=None)
    event["person"] = {
        **event["person"],
        "confidential": True,
        "name": None,
        "phone_number": None,
        "national_register_number": "90.05.14-124.23",
    }
    (card,) = render([event])["cards"]
    assert "test" in card["classes"] and "new" not in card["classes"]
    assert card["headline"].startswith("TEST ALARM")
    assert card["banner_person"] == "CONFIDENTIAL – national register number 90.05.14-124.23"
    assert card["location"].startswith("No location from the phone")


async def test_the_queue_shows_open_alarms_oldest_first_and_each_step(backend):
    first, second, test = (
        await alarm_json(backend, 1),
        await alarm_json(backend, 2),
        await alarm_json(backend, 3, frame.TEST_ALARM),
    )
    for name, data in [
        ("acknowledge", {}),
        ("dispatch", {"patrol": "GE-21", "zone": "PZ Lochristi"}),
    ]:
        answer = await backend.client.post(
            f"/api/v1/alarms/{second['alarm_id']}/{name}", json=data, headers=OPERATOR
        )
        assert answer.status_code == 200
    update = {**answer.json()["alarm"], "change": "dispatch"}

    shown = render([test, second, first, update])

    # Open stalking alarms oldest first, then the provisioning test.
    ids = [int(card["alarm_id"]) for card in shown["cards"]]
    assert ids == [first["alarm_id"], second["alarm_id"], test["alarm_id"]]
    fresh, dispatched, provisioning = shown["cards"]
    assert fresh["state"] == "OPEN – not acknowledged"
    assert fresh["buttons"] == [".do-acknowledge", ".do-close"]
    assert dispatched["state"] == "PATROL DISPATCHED"
    assert dispatched["buttons"] == [".do-on-scene", ".do-close"]
    assert dispatched["steps"][1].startswith("Patrol dispatched:")
    assert "GE-21 (PZ Lochristi)" in dispatched["steps"][1] and "cic-demo" in dispatched["steps"][1]
    assert [row.split()[2:] for row in dispatched["audit"]] == [
        ["cic-demo", "acknowledged"],
        ["cic-demo", "patrol", "dispatched", "patrol", "GE-21", "(PZ", "Lochristi)"],
    ]
    assert "Intervention zone" in dispatched["zones"] and "PZ Gent" in dispatched["zones"]
    assert len(dispatched["trail"]) == 1 and "±8 m" in dispatched["trail"][0]
    assert dispatched["magistrate"].startswith("Magistrate: mailed when the alarm is closed")
    assert provisioning["state"] == "OPEN – not acknowledged"
    assert provisioning["buttons"] == [".do-acknowledge"]  # no patrol for a test, no close


async def test_an_alarm_that_cannot_be_displayed_shows_as_an_error_card(backend):
    readable = await alarm_json(backend, 1)
    broken = UnreadableAlarm(
        7, 2, "alarm", "open", 0x00C0FFEE, 1, 1, "OverflowError: date value out of range"
    )
    card = {**error_card(broken), "pushed_at": "2026-11-23T19:02:03.480Z"}
    closed = {**error_card(UnreadableAlarm(8, 5, None, "closed", None, None, None, "E: x"))}

    shown = render([readable, card, closed])

    assert shown["title"].startswith("STALKING ALARM")
    cards = {int(c["alarm_id"]): c for c in shown["cards"]}
    assert [int(c["alarm_id"]) for c in shown["cards"]] == [readable["alarm_id"], 7, 8]
    assert "unreadable" not in cards[readable["alarm_id"]]["classes"]
    unreadable = cards[7]
    assert {"unreadable", "new"} <= set(unreadable["classes"])  # it flashes as a new alarm
    assert unreadable["headline"] == "STALKING ALARM 7 – CANNOT BE DISPLAYED"
    assert unreadable["state"] == "OPEN – not acknowledged"
    advice = unreadable["banner_person"]
    assert "case 1" in advice and "duty technician" in advice
    assert "a patrol must go" in unreadable["unreadable"]
    for fact in ("Case 1", "Button 00c0ffee", "OverflowError: date value out of range"):
        assert fact in unreadable["unreadable_facts"]
    assert unreadable["buttons"] == [".do-acknowledge", ".do-close"]  # still worked from the card
    assert unreadable["magistrate"].startswith("Magistrate: unknown")
    assert cards[8]["state"] == "CLOSED" and cards[8]["buttons"] == []
