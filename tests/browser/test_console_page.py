"""The CIC console page in a real browser (Chromium), fed by a real press on the
emulated board: what the operator sees, live, without reloading.

`MSA_SCREENSHOT=1 pytest tests/browser` also refreshes docs/img/console.png.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from msa.app.phone import GHENT
from msa.backend.alarms import HEADLINES
from msa.backend.seed import DEMO_CASE
from msa.demo.stack import Stack, run_msa_json
from tests.browser.conftest import log_in

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture skips (or, under MSA_REQUIRE_BROWSER=1, fails)
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "console.png"
STALKING = HEADLINES["alarm"]  # "STALKING ALARM"
TEST = HEADLINES["test_alarm"]  # "TEST ALARM (provisioning test, no patrol)"
RED = "rgb(192, 0, 0)"  # a stalking alarm's frame (console.css)
BLUE = "rgb(31, 95, 168)"  # a test alarm's frame
PERSON = DEMO_CASE.persons[0]  # the case `msa backend seed-demo` creates
SUSPECT = DEMO_CASE.suspect


def section(card, heading: str):
    """The part of an alarm card under one heading, as the operator reads it."""
    return card.locator("section").filter(
        has=card.page.get_by_role("heading", name=heading, exact=True)
    )


@pytest.mark.hil
async def test_a_press_appears_live_as_a_stalking_alarm_with_its_context(stack: Stack, page):
    await log_in(page, stack)
    await expect(page.get_by_text("No open alarms.")).to_be_visible()
    await expect(page.locator("article.alarm")).to_have_count(0)
    await page.evaluate("window.loadedOnce = true")  # a reload would forget it

    alarm = await stack.press()

    card = page.locator("article.alarm")
    await expect(card).to_have_count(1)
    assert await page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    await expect(page.get_by_text("No open alarms.")).to_be_hidden()

    # Unmistakable: the headline in a red banner and frame, and in the tab's title.
    banner = card.locator(".banner")
    await expect(banner.locator(".headline")).to_have_text(STALKING)
    await expect(banner).to_contain_text(PERSON.full_name)
    await expect(card).to_have_css("border-top-color", RED)
    await expect(card).not_to_have_class(re.compile(r"\btest\b"))
    await expect(page).to_have_title(re.compile(f"^{STALKING}"))

    # What the operator needs to send a patrol, at a glance (no scrolling).
    at_a_glance = {
        "Weapons": ["YES", SUSPECT.weapons],
        "Protected person": [PERSON.full_name, PERSON.phone_number],
        "Location": [f"{GHENT.lat:.5f}, {GHENT.lon:.5f}", f"±{GHENT.accuracy_m:.0f} m"],
        "Suspect": [SUSPECT.full_name],
        "Case": [DEMO_CASE.reference, f"{alarm.device_id:08x} #{alarm.counter}"],
    }
    await expect(banner).to_be_in_viewport()
    for heading, texts in at_a_glance.items():
        part = section(card, heading)
        await expect(part).to_be_visible()
        await expect(part).to_be_in_viewport()
        for text in texts:
            await expect(part).to_contain_text(text)
    await expect(section(card, "Weapons")).to_have_class(re.compile(r"\barmed\b"))
    await expect(section(card, "Location").get_by_role("link")).to_have_attribute(
        "href", f"geo:{GHENT.lat:.6f},{GHENT.lon:.6f};u={GHENT.accuracy_m:g}"
    )

    rows = section(card, "Addresses").get_by_role("row")
    await expect(rows).to_have_count(len(PERSON.addresses))
    for address in PERSON.addresses:
        row = rows.filter(has_text=address.address)
        await expect(row).to_be_visible()
        await expect(row.get_by_role("cell").first).to_have_text(address.kind)
    assert {a.kind for a in PERSON.addresses} >= {"home", "work"}

    assert page.problems == []
    if os.environ.get("MSA_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=SCREENSHOT, animations="disabled")


@pytest.mark.hil
async def test_a_test_alarm_is_shown_as_a_test_not_as_a_stalking_alarm(stack: Stack, page):
    await log_in(page, stack)
    await stack.arm_test_alarm()

    test = await stack.gesture(stack.board.test_gesture())

    assert test.kind == "test_alarm"
    cards = page.locator("article.alarm")
    await expect(cards).to_have_count(1)
    await expect(cards.locator(".headline")).to_have_text(TEST)
    await expect(cards).to_have_class(re.compile(r"\btest\b"))
    await expect(cards).to_have_css("border-top-color", BLUE)
    await expect(cards).to_contain_text(PERSON.full_name)
    await expect(page.get_by_text(re.compile(STALKING))).to_have_count(0)
    await expect(page).not_to_have_title(re.compile(STALKING))

    # The next press is real again: both on the page, newest first, each as what it is.
    real = await stack.press()

    assert real.kind == "alarm"
    await expect(cards).to_have_count(2)
    await expect(cards.locator(".headline")).to_have_text([STALKING, TEST])
    await expect(cards.first).to_have_css("border-top-color", RED)
    await expect(cards.last).to_have_css("border-top-color", BLUE)
    await expect(page).to_have_title(re.compile(f"^{STALKING}"))
    assert page.problems == []


@pytest.mark.hil
async def test_a_stolen_buttons_press_is_refused_and_shown_as_a_security_notice(stack: Stack, page):
    """`msa backend revoke`: the button's press reaches the backend, which refuses it
    (no alarm, no patrol for whoever holds it) and tells every console."""
    await log_in(page, stack)
    device = stack.credentials["device_id"]
    notices = page.locator("#security-list li")
    await expect(page.locator("#security")).to_be_hidden()

    revoked = await run_msa_json(
        "backend", "revoke", "--device-id", device, "--reason", "stolen",
        "--db", stack.database_url,
    )  # fmt: skip
    assert revoked["revoked_now"] is True
    await stack.board.press(150)

    # (A heartbeat of the button's, if one falls due, is a notice of its own.)
    pressed = notices.filter(has_text=f"alarm from the stolen button {device}")
    await expect(pressed).to_have_count(1)
    await expect(pressed).to_contain_text(DEMO_CASE.reference)
    await expect(page.locator("article.alarm")).to_have_count(0)
    await expect(page.get_by_text("No open alarms.")).to_be_visible()
    await page.reload()  # a console that comes later is told too
    await expect(pressed).to_have_count(1)
    assert page.problems == []


@pytest.mark.hil
async def test_without_logging_in_the_console_shows_no_alarms(stack: Stack, page):
    await stack.press()  # an open alarm, on the authenticated console stream
    assert len(stack.console.alarms) == 1
    base = stack.backend.url

    response = await page.goto(base + "/console")

    assert response is not None and response.status == 401
    await expect(page.get_by_role("heading")).to_have_text("Log in to the CIC console")
    await expect(page.get_by_text("Log in first")).to_be_visible()
    await expect(page.get_by_text("msa backend login-link YOUR_NAME")).to_be_visible()
    await expect(page.locator("article.alarm")).to_have_count(0)
    await expect(page.get_by_text(re.compile(STALKING))).to_have_count(0)
    await expect(page.get_by_text(PERSON.full_name)).to_have_count(0)
    stream = await page.request.get(base + "/api/v1/console/stream", timeout=10_000)
    assert stream.status == 401
    assert (await stream.json())["error"] == "unauthorized"

    # A code that is not a log-in link's does not log in.
    response = await page.goto(base + "/console/login?code=not-a-log-in-code")
    assert response is not None and response.status == 401
    await expect(page.get_by_text("This log-in link is not known")).to_be_visible()
    assert await page.context.cookies() == []

    # The same browser, logged in, gets the open alarm at once (so it was there to see).
    await log_in(page, stack)
    await expect(page.locator("article.alarm .headline")).to_have_text(STALKING)
    await expect(page.locator("article.alarm")).to_contain_text(PERSON.full_name)
    assert not [problem for problem in page.problems if problem.startswith("uncaught")]


@pytest.mark.hil
async def test_log_out_ends_the_session_and_the_link_does_not_work_twice(stack: Stack, page):
    await stack.press()
    base = stack.backend.url
    link = stack.console_url
    await page.goto(link)
    await expect(page.locator("#status")).to_have_text("live")
    await expect(page.locator("article.alarm .headline")).to_have_text(STALKING)
    [cookie] = await page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
        "msa_console",
        True,
        "Strict",
    )
    assert cookie["secure"] is False  # plain HTTP on this machine

    await page.get_by_role("button", name="Log out").click()

    await expect(page).to_have_url(base + "/console")
    await expect(page.get_by_text("Log in first")).to_be_visible()
    await expect(page.get_by_text(re.compile(STALKING))).to_have_count(0)
    assert await page.context.cookies() == []
    # The session is over in the backend, not just forgotten by this browser.
    stale = await page.request.get(
        base + "/api/v1/zones", headers={"Cookie": f"msa_console={cookie['value']}"}
    )
    assert stale.status == 401
    assert "logged out" in (await stale.json())["detail"]
    # And the link it came from does not open another.
    response = await page.goto(link)
    assert response is not None and response.status == 401
    await expect(page.get_by_text("was used already")).to_be_visible()
    assert await page.context.cookies() == []
    assert not [problem for problem in page.problems if problem.startswith("uncaught")]


@pytest.mark.hil
async def test_the_inventory_page_shows_the_districts_buttons_and_a_shortage(stack: Stack, page):
    db = ("--db", stack.database_url)
    desk = await run_msa_json(
        "backend", "operator-add", "desk", "--role", "tech_desk", *db, "--json"
    )
    district = DEMO_CASE.judicial_district
    await run_msa_json("inventory", "add", "--district", district, "0badf00d", *db)
    await run_msa_json("inventory", "threshold", "--district", district, "--min", "2", *db)

    await page.goto(stack.backend.url + desk["login_path"])  # the tech desk lands there

    await expect(page).to_have_url(stack.backend.url + "/inventory")
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=district))
    # stock, assigned, repair, returned, lost, reorder under, status
    await expect(row.get_by_role("cell")).to_have_text(["1", "0", "0", "0", "0", "2",
                                                        "short: order buttons"])  # fmt: skip
    short = row.locator(".short")
    assert await short.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 243, 205)"
    response = await page.goto(stack.backend.url + "/console")  # the CIC's, not the tech desk's
    assert response is not None and response.status == 403
    assert not [problem for problem in page.problems if problem.startswith("uncaught")]
