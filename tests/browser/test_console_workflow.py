"""The operator works an alarm to closed in a real browser (Chromium): a press on the
emulated board appears live, and the page takes it through acknowledge, dispatch,
on scene and close, with the audit, the trail and the magistrate's mail (a real
SMTP server) showing each step. The backend, not the page, refuses a close
before a patrol was dispatched.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from msa.backend.alarms import HEADLINES
from msa.backend.seed import DEMO_CASE, DEMO_MAGISTRATE
from msa.backend.workflow import extended_end
from msa.demo.stack import Stack
from tests.backend.smtp import Inbox, mail_server
from tests.browser.conftest import log_in

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture skips (or, under MSA_REQUIRE_BROWSER=1, fails)
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.hil, pytest.mark.asyncio(loop_scope="module")]

STALKING = HEADLINES["alarm"]
PV = "GE.60.L1.004321/26"
LOCHRISTI = {"lat": 51.0969, "lon": 3.8742, "accuracy_m": 12.0}


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def inbox(monkeypatch) -> AsyncIterator[Inbox]:
    """The magistrate's mail server; autouse, so it is up (and MSA_SMTP set) before
    conftest's `stack` starts its backend."""
    async with mail_server() as server:
        monkeypatch.setenv("MSA_SMTP", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("MSA_MAIL_FROM", "cic@police.example")
        yield server


def section(card, heading: str):
    return card.locator("section").filter(
        has=card.page.get_by_role("heading", name=heading, exact=True)
    )


async def send_fix(stack: Stack, alarm_id: int, fix_at: str) -> dict:
    """The phone's location update during the alarm, as the 112 app sends it."""
    headers = {"Authorization": f"Bearer {stack.credentials['phone_token']}"}
    async with httpx.AsyncClient(base_url=stack.backend.url, timeout=10) as client:
        response = await client.post(
            f"/api/v1/alarms/{alarm_id}/locations",
            json={**LOCHRISTI, "fix_at": fix_at},
            headers=headers,
        )
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_operator_works_a_press_to_closed(stack: Stack, inbox: Inbox, page):
    await log_in(page, stack)
    await stack.press()
    card = page.locator("article.alarm")
    await expect(card).to_have_count(1)
    await expect(card.locator(".headline")).to_have_text(STALKING)
    await expect(card.locator(".state")).to_have_text("OPEN – not acknowledged")
    alarm_id = int(await card.get_attribute("data-alarm-id"))
    audit = section(card, "Audit").locator("tbody tr")
    await expect(audit).to_have_count(0)

    # Acknowledge from the keyboard.
    await card.get_by_role("button", name="Acknowledge").focus()
    await page.keyboard.press("Enter")
    await expect(card.locator(".state")).to_have_text("ACKNOWLEDGED – send a patrol")
    await expect(audit).to_have_count(1)
    await expect(audit.first).to_contain_text("cic-demo")
    await expect(audit.first).to_contain_text("acknowledged")

    # She moves: the phone's fix arrives live, with its time and accuracy, and the
    # intervention zone is now another than the case's managing zone.
    assert (await send_fix(stack, alarm_id, "2026-11-25T13:00:10.000Z"))["status"] == "committed"
    trail = section(card, "Location trail").locator("tbody tr")
    await expect(trail).to_have_count(2)
    await expect(trail.first).to_contain_text("±12 m")
    await expect(trail.first).to_contain_text("51.09690, 3.87420")
    zones = card.locator(".zones")
    await expect(zones).to_contain_text("Intervention zonePZ Lochristi")
    await expect(zones).to_contain_text("Managing zonePZ Gent")
    await expect(section(card, "Suspect")).to_contain_text(DEMO_CASE.suspect.full_name)
    await expect(section(card, "Weapons")).to_contain_text("YES")
    daughter = DEMO_CASE.persons[1]
    await expect(section(card, "Case")).to_contain_text(
        f"Also protected{daughter.full_name} – {daughter.phone_number}"
    )

    zone = card.get_by_label("Zone")
    await expect(zone).to_have_value("PZ Lochristi")  # the zone where she is now
    await card.get_by_label("Patrol (call sign)").fill("LO-2")
    await card.get_by_role("button", name="Dispatch patrol").click()
    await expect(card.locator(".state")).to_have_text("PATROL DISPATCHED")
    await expect(audit).to_have_count(2)
    await expect(audit.nth(1)).to_contain_text("patrol LO-2 (PZ Lochristi)")

    await card.get_by_role("button", name="Patrol on scene").click()
    await expect(card.locator(".state")).to_have_text("PATROL ON SCENE")

    await card.get_by_label("real").check()
    await card.get_by_label("PV number").fill(PV)
    days = {brussels_today()}  # the close is dated by the backend: a run may span midnight
    await card.get_by_role("button", name="Close alarm").click()

    await expect(card.locator(".state")).to_have_text("CLOSED – real")
    await expect(card).to_have_class(re.compile(r"\bclosed\b"))
    days.add(brussels_today())
    ends_on = one_of(extended_end(DEMO_CASE.ends_on, day) for day in days)
    await expect(section(card, "Case")).to_contain_text(ends_on)
    actions = ["acknowledged", "patrol dispatched", "patrol on scene", "closed", "measure extended"]
    await expect(audit).to_have_count(6)  # and the magistrate's mail, once sent
    for row, action in zip(await audit.all(), actions, strict=False):
        await expect(row).to_contain_text(action)
        await expect(row).to_contain_text("cic-demo")
    await expect(audit.nth(3)).to_contain_text(f"outcome real, PV {PV}")
    await expect(audit.nth(5)).to_contain_text("magistrate notified")
    await expect(card.locator(".magistrate")).to_contain_text(
        f"Magistrate notified: mail sent to {DEMO_MAGISTRATE}"
    )
    await expect(card.get_by_role("button", name="Close alarm")).to_be_hidden()
    await expect(page.get_by_text("No open alarms.")).to_be_visible()

    _, recipients, mail = await inbox.next()
    assert recipients == [DEMO_MAGISTRATE] and PV in mail["Subject"]
    assert "LO-2 (PZ Lochristi)" in mail.get_payload(decode=True).decode()
    assert page.problems == []


async def test_the_close_is_refused_before_a_patrol_was_dispatched(stack: Stack, page):
    await log_in(page, stack)
    await stack.press()
    card = page.locator("article.alarm")
    await expect(card).to_have_count(1)
    close = card.get_by_role("button", name="Close alarm")
    refusal = card.get_by_role("alert")

    for before in ("OPEN – not acknowledged", "ACKNOWLEDGED – send a patrol"):
        if before.startswith("ACK"):
            await card.get_by_role("button", name="Acknowledge").click()
        await expect(card.locator(".state")).to_have_text(before)
        await card.get_by_label("false alarm").check()
        await close.click()
        await expect(refusal).to_have_text(
            re.compile(r"^Refused: An alarm is never closed without a dispatched patrol")
        )
        await expect(card.locator(".state")).to_have_text(before)

    audit = section(card, "Audit").locator("tbody tr")
    await expect(audit).to_have_count(1)  # the acknowledgement; the refusals changed nothing
    alarm_id = await card.get_attribute("data-alarm-id")
    stored = await page.request.get(f"{stack.backend.url}/api/v1/alarms/{alarm_id}")
    assert stored.status == 200
    alarm = await stored.json()
    assert alarm["status"] == "acknowledged" and alarm["workflow"]["closed"] is None
    assert [h["action"] for h in alarm["history"]] == ["alarm.acknowledge"]
    assert not [p for p in page.problems if p.startswith("uncaught")]


async def test_a_confirmed_test_alarm_starts_support(stack: Stack, page):
    await log_in(page, stack)
    await stack.arm_test_alarm()
    await stack.gesture(stack.board.test_gesture())  # a test needs its gesture
    card = page.locator("article.alarm")
    await expect(card.locator(".headline")).to_have_text(HEADLINES["test_alarm"])
    await expect(card.get_by_role("button", name="Dispatch patrol")).to_be_hidden()
    await expect(card.get_by_role("button", name="Close alarm")).to_be_hidden()
    await expect(section(card, "Case")).to_contain_text("no confirmed test alarm yet")

    await card.get_by_role("button", name="Acknowledge").click()
    days = {brussels_today()}
    await card.get_by_role("button", name="Confirm test alarm (support starts)").click()

    await expect(card.locator(".state")).to_have_text("TEST CONFIRMED")
    days.add(brussels_today())
    await expect(section(card, "Case")).to_contain_text(
        one_of(f"Support since{day}" for day in days)
    )
    await expect(card.locator(".magistrate")).to_have_text(
        "Magistrate: not notified (provisioning test)."
    )
    await expect(page.get_by_text(re.compile(STALKING))).to_have_count(0)
    assert page.problems == []


def brussels_today() -> str:
    return datetime.now(ZoneInfo("Europe/Brussels")).date().isoformat()


def one_of(texts: Iterable[str]) -> re.Pattern[str]:
    """Any of `texts`, for a date the backend set on a day the test cannot pin."""
    return re.compile("|".join(re.escape(text) for text in sorted(texts)))
