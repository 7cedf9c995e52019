"""The hardware-in-the-loop suite: the same tests against the emulated board
(default) or, from the bench, a real board.

    pytest hwtest                                  # emulated board, Bumble radio
    pytest hwtest --target serial:/dev/ttyUSB0 --ble bleak

Fixtures give each test a whole chain (backend, board, phone, console); see
host/msa/demo/stack.py. The board's console log of each test is kept in the
test's tmp folder (board/console.log) and named in the failure message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from boards.emulated.air import Air
from boards.emulated.emulator import EmulatedBoard
from msa.demo.stack import Stack


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("msa-hil", "msa hardware-in-the-loop")
    group.addoption(
        "--target",
        default="emulated",
        help="the board under test: emulated (default) or serial:PORT",
    )
    group.addoption("--ble", default="bumble", help="the phone's BLE stack: bumble or bleak")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "provision(**settings): device.json settings for the board of this case "
        "(firmware/settings.py), e.g. provision(pattern='long', hold_ms=1500)",
    )


def provisioning(request: pytest.FixtureRequest) -> dict:
    marker = request.node.get_closest_marker("provision")
    return dict(marker.kwargs) if marker else {}


@dataclass(frozen=True)
class Target:
    kind: str  # "emulated" | "serial"
    port: str | None
    ble: str


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    spec = request.config.getoption("--target")
    ble = request.config.getoption("--ble")
    kind, _, port = spec.partition(":")
    if kind not in ("emulated", "serial") or (kind == "serial" and not port):
        raise pytest.UsageError(f"--target {spec!r}: use emulated or serial:/dev/ttyUSB0")
    if ble not in ("bumble", "bleak"):
        raise pytest.UsageError(f"--ble {ble!r}: use bumble or bleak")
    return Target(kind, port or None, ble)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Attach the board's console log to the report of a failed case."""
    report = yield
    if report.failed:
        for log in sorted(Path(item.funcargs.get("tmp_path", "/nonexistent")).rglob("console.log")):
            tail = log.read_text(errors="replace")[-3000:]
            report.sections.append((f"board console ({log})", tail))
    return report


@pytest.fixture
async def stack(target: Target, tmp_path, request) -> AsyncIterator[Stack]:
    if target.kind != "emulated":
        pytest.skip(
            "a real board on a serial port needs the bench strategy of the HIL suite "
            "(flash, provision, bond over bleak), which is not built yet"
        )
    chain = Stack.fresh(tmp_path / "stack", settings=provisioning(request))
    try:
        await chain.start()
        yield chain
    finally:
        await chain.stop()


@pytest.fixture
async def board(target: Target, tmp_path, request) -> AsyncIterator[EmulatedBoard]:
    """A provisioned board on its own air, with no phone and no backend."""
    if target.kind != "emulated":
        pytest.skip("this case drives the emulated board's hardware directly")
    device = EmulatedBoard(tmp_path / "board", Air())
    device.flash_firmware()
    device.provision({"device_id": 0x0BADCAFE, "key": "42" * 32, **provisioning(request)})
    try:
        await device.power_on()
        await device.console.expect("msa: firmware")
        yield device
    finally:
        await device.close()
