"""The board's `bluetooth` module against MicroPython's documentation and the ESP32
port's behaviour (hwtest/conformance/api.py runs on the board, one line per check).

The same program runs on a real ESP32 with `--target serial:PORT`; what the emulated
board knowingly does differently is listed in docs/firmware.md."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from boards.emulated.air import Air
from hwtest import programs
from hwtest.bench import Target

pytestmark = pytest.mark.hil

CHECKS = sorted(
    m.group(1)
    for m in re.finditer(r"^def check_(\w+)\(", (programs.PROGRAMS / "api.py").read_text(), re.M)
)


@pytest.fixture(scope="module")
def api_results(target: Target, tmp_path_factory) -> dict[str, str]:
    """The program runs once; each check is a test of its own."""
    return asyncio.run(_run_api(target, tmp_path_factory.mktemp("conformance-api")))


async def _run_api(target: Target, folder: Path) -> dict[str, str]:
    running = await programs.start(target, folder, Air(), programs.source("api.py"))
    try:
        await running.expect("DONE")
        return programs.results(running.output)
    finally:
        await running.stop()


@pytest.mark.parametrize("check", CHECKS)
def test_api(api_results: dict[str, str], check: str):
    assert check in api_results, f"the program did not report {check}"
    assert api_results[check] == "PASS", api_results[check]
