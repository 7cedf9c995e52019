"""The zone officer's morning and the console's trail map, in Chromium (issue 14).

The officer opens her log-in link, lands on the zone's page, reads the event the
victim's phone caused (Bluetooth off), acknowledges it, and sees it leave once the
phone has Bluetooth again. The console draws an alarm's moving trail on tiles a
local tile server gives (the backend's --tiles), and the CSP lets in no other."""

from __future__ import annotations

import datetime as dt
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import pytest_asyncio
from playwright.async_api import expect

from msa.app.location import GHENT
from msa.backend.daily_report import BRUSSELS
from msa.backend.seed import DEMO_CASE
from msa.backend.store import open_store
from msa.backend.supervision import Rules
from msa.demo.stack import Stack, run_msa_json
from msa.timefmt import now_ms
from msa.waiting import wait_until
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


def png(width: int = 256, height: int = 256, rgb: tuple[int, int, int] = (170, 211, 223)) -> bytes:
    """A plain tile: a PNG of one colour."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A local tile source: every /z/x/y.png is a plain tile; the paths asked, kept."""
    asked: list[str] = []
    tile = png()

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the base class's name)
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png", asked
    finally:
        server.shutdown()


@pytest_asyncio.fixture(loop_scope="module")
async def tiled_stack(browser, tmp_path, tile_server, monkeypatch) -> AsyncIterator[Stack]:
    """The demo's stack: the victim walks; the backend takes its tiles from the server."""
    monkeypatch.setenv("MSA_TILES", tile_server[0])  # the backend's --tiles default
    chain = Stack.fresh(tmp_path / "stack", location=GHENT.walking())
    try:
        await chain.start()
        yield chain
    finally:
        await chain.stop()


async def sweep(stack: Stack) -> None:
    """The supervisor's round now (the backend runs it every 30 s)."""
    store = await open_store(stack.database_url)
    try:
        await store.sweep_supervision(now_ms(), Rules())
    finally:
        await store.close()


async def make_todays_report(stack: Stack) -> str:
    """The zone's report of today (its scheduler's work, done now)."""
    store = await open_store(stack.database_url)
    try:
        (schedule,) = await store.report_schedules()
        today = dt.datetime.now(BRUSSELS).date()
        await store.make_report(schedule, today, now_ms())
    finally:
        await store.close()
    return today.isoformat()


async def test_the_zone_officer_reads_acknowledges_and_sees_an_event_end(stack: Stack, page):
    officer = await run_msa_json(
        "backend", "operator-add", "ref-gent", "--role", "zone_officer", "--zone", "PZ Gent",
        "--db", stack.database_url, "--json",
    )  # fmt: skip
    phone = stack.phone
    assert phone is not None and phone.reports is not None
    await phone.set_bluetooth(False)
    await wait_until(lambda: phone.reports.sent["/api/v1/link-reports"] >= 1, 15, "the report")
    await sweep(stack)

    await page.goto(stack.backend.url + officer["login_path"])
    await expect(page).to_have_url(stack.backend.url + "/zone")
    row = page.locator("tr.event.bluetooth_off")
    await expect(row).to_have_count(1)
    await expect(row.get_by_role("rowheader")).to_contain_text("bluetooth off")
    await expect(row).to_contain_text("Call the person")
    await expect(row).to_contain_text(DEMO_CASE.persons[0].full_name)
    await row.get_by_role("button", name="Acknowledge").click()
    await expect(page).to_have_url(stack.backend.url + "/zone")
    await expect(page.locator("tr.event.bluetooth_off")).to_contain_text("acknowledged by ref-gent")

    await phone.set_bluetooth(True)
    await wait_until(lambda: phone.reports.sent["/api/v1/link-reports"] >= 2, 15, "its end")
    await sweep(stack)
    await page.reload()
    await expect(page.locator(".empty")).to_contain_text("Nothing to follow up")

    # The zone sets its report: at 23:59, so that today's covers the day until now.
    await page.get_by_role("link", name="Daily reports").click()
    await page.get_by_role("textbox", name="time (Brussels)").fill("23:59")
    await page.get_by_role("textbox", name="mailbox").fill("referentie@pz-gent.example")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("form.schedule")).to_contain_text("The report is mailed")
    # The morning's report: Bluetooth was off once; she is to be called.
    day = await make_todays_report(stack)
    await page.reload()
    await page.get_by_role("link", name=day).click()
    line = page.locator("tr.person.irregular").filter(has_text=DEMO_CASE.persons[0].full_name)
    await expect(line).to_contain_text("Bluetooth off: yes, once")
    await expect(line).to_contain_text("to do: call the person")

    # The magistrate extended the measure on new facts: the officer records it.
    await page.get_by_role("link", name="Supervision").click()
    case = page.locator("tr.case")
    before = await case.locator("td").first.inner_text()
    await case.get_by_role("textbox", name="the new facts").fill("new threats by text message")
    await case.get_by_role("button", name="Extend 9 months (new facts)").click()
    await expect(page).to_have_url(stack.backend.url + "/zone")
    await expect(case.locator(".registrations")).to_contain_text("verlenging stalkingalarm")
    assert await case.locator("td").first.inner_text() > before
    # The console is the CIC's: the officer has none.
    response = await page.goto(stack.backend.url + "/console")
    assert response is not None and response.status == 403
    assert not [problem for problem in page.problems if problem.startswith("uncaught")]


async def test_the_console_draws_the_moving_trail_on_the_configured_tiles(
    tiled_stack: Stack, page, tile_server
):
    stack = tiled_stack
    _, asked = tile_server
    await log_in(page, stack)
    phone = stack.phone
    assert phone is not None and phone.reports is not None
    phone.reports.trail_every_s = 0.5
    await stack.press()
    card = page.locator(".alarm").first
    await expect(card).to_be_visible()
    await wait_until(lambda: phone.reports.fixes >= 3, 20, "three fixes")

    drawn = card.locator(".map")
    await page.wait_for_function(
        "() => Number(document.querySelector('.alarm .map')?.dataset.points) >= 4",
        timeout=15_000,
    )
    points = await drawn.locator("polyline").get_attribute("points")
    assert points is not None and len(set(points.split())) >= 2  # it moves
    tiles = drawn.locator("img.tile")
    assert await tiles.count() >= 1
    await expect(tiles.first).to_have_js_property("complete", True)
    assert await tiles.first.evaluate("img => img.naturalWidth") == 256  # loaded, not blocked
    zoom = await drawn.get_attribute("data-zoom")
    assert any(path.startswith(f"/{zoom}/") for path in asked)
    assert not page.problems
