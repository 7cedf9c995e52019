"""Fixtures for the CIC console in a real browser: Debian's Chromium driven by Playwright.

    apt-get install chromium                # the browser (Playwright's own download is not used)
    pip install -e '.[dev]'                 # playwright, with the other dev tools
    pytest tests/browser -m browser

Without Chromium or Playwright these tests skip, naming what to install; with
MSA_REQUIRE_BROWSER=1 (CI) they fail instead. One browser serves the whole module
(the tests and their fixtures run on the module's event loop, which the browser's
connection belongs to); each test gets a fresh browser context (no cookies) and a
fresh `Stack` (backend, emulated board, phone, SSE console). When a test fails,
the page as it was is saved to `page-failure.png` in the test's tmp folder, next
to the stack's logs (stack/backend.log, stack/board/console.log).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from msa.demo.stack import Stack

INSTALL = "apt-get install chromium (Debian's Chromium) and pip install -e '.[dev]' (playwright)"
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# A dispatch workstation in Belgium: what the operator's browser uses.
VIEWPORT = {"width": 1440, "height": 900}
LOCALE = "nl-BE"
TIMEZONE = "Europe/Brussels"
EXPECT_TIMEOUT_MS = 10_000
# The pair last run green: Playwright (constraints.txt) drives Debian's Chromium,
# whose version follows the Debian release. Playwright speaks the DevTools protocol
# of the Chromium it was built with; much older ones miss what it calls.
TESTED_PAIR = "Playwright 1.65.2 with Chromium 156"
OLDEST_CHROMIUM = 130
_FAILED = pytest.StashKey[bool]()


def _unavailable(what: str) -> None:
    reason = f"the browser tests need {what}: {INSTALL}"
    if os.environ.get("MSA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MSA_REQUIRE_BROWSER=1, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        _unavailable("Playwright (not importable)")
    executable = shutil.which("chromium")
    if executable is None:
        _unavailable("Chromium (no `chromium` on PATH)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    async with async_playwright() as playwright:
        # Never `playwright install`: it downloads a browser; Debian's is the one used.
        chromium = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        major = int(chromium.version.split(".")[0])
        if major < OLDEST_CHROMIUM:
            await chromium.close()
            pytest.fail(
                f"Chromium {chromium.version} is older than {OLDEST_CHROMIUM}, which this "
                f"Playwright needs ({TESTED_PAIR} is the tested pair): update the "
                "Debian package, or pin an older Playwright in constraints.txt",
                pytrace=False,
            )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed:
        item.stash[_FAILED] = True  # for the page fixture's teardown
    return report


_FAILED = pytest.StashKey[bool]()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser, request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Any]:
    """A page in a fresh browser context: no session cookie, so not logged in."""
    context = await browser.new_context(
        viewport=VIEWPORT, locale=LOCALE, timezone_id=TIMEZONE, device_scale_factor=1
    )
    opened = await context.new_page()
    opened.problems = []  # uncaught script errors and console errors, checked by the tests
    opened.on("pageerror", lambda error: opened.problems.append(f"uncaught: {error}"))
    opened.on(
        "console",
        lambda message: (
            message.type == "error"
            and opened.problems.append(f"console.error: {message.text} ({message.location['url']})")
        ),
    )
    try:
        yield opened
    finally:
        if request.node.stash.get(_FAILED, False):
            await opened.screenshot(path=tmp_path / "page-failure.png", full_page=True)
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def stack(browser, tmp_path) -> AsyncIterator[Stack]:
    """The whole chain, fresh for each test (the pattern of hwtest/conftest.py).

    It asks for the browser first, so that a missing browser skips before the chain starts.
    """
    chain = Stack.fresh(tmp_path / "stack")
    try:
        await chain.start()
        yield chain
    finally:
        await chain.stop()


async def log_in(page: Any, stack: Stack) -> None:
    """The operator opens the log-in link seed-demo printed (it works once); the
    console is live once the backlog arrived."""
    from playwright.async_api import expect

    response = await page.goto(stack.console_url)
    assert response is not None and response.status == 200
    await expect(page).to_have_url(stack.backend.url + "/console")
    await expect(page.locator("#status")).to_have_text("live")
