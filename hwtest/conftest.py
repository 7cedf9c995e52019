"""The hardware-in-the-loop suite: the same tests against the emulated board
(default) or, from the bench, a real board.

    pytest hwtest                                  # emulated board, Bumble radio
    pytest hwtest --target serial:/dev/ttyUSB0 --ble bleak --bench bench.toml

Fixtures give each test a whole chain (backend, board, phone, console; see
hwtest/harness.py), a board alone, or the device under test as the bench
can handle it (`dut`, hwtest/bench.py). The options, the bench and the keeping
of each case's console log (reports/hil/<module>/<case>/) are in hwtest/plugin.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from boards.emulated.air import Air
from boards.emulated.emulator import EmulatedBoard
from hwtest import plugin
from hwtest.bench import Bench, SerialDut, Target
from hwtest.harness import Chain
from hwtest.serial_board import BAUDRATE, SerialBoard, forget_os_bond, port_missing

# The plugin's hooks and fixtures, seen by pytest here (a conftest below the
# root cannot name plugins in pytest_plugins).
pytest_addoption = plugin.pytest_addoption
pytest_runtest_makereport = plugin.pytest_runtest_makereport
pytest_runtest_setup = plugin.pytest_runtest_setup
target = plugin.target
bench = plugin.bench
dut = plugin.dut


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "provision(**settings): device.json settings for the board of this case "
        "(firmware/settings.py), e.g. provision(pattern='long', hold_ms=1500)",
    )
    config.addinivalue_line(
        "markers",
        "emulated_only(why): the case needs the emulated board (its flash, its air, its "
        "interpreter); on another target it is skipped, saying why",
    )


@pytest.fixture(autouse=True)
def _emulated_only(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("emulated_only")
    if marker is not None and request.getfixturevalue("target").kind != "emulated":
        pytest.skip(marker.args[0])


def provisioning(request: pytest.FixtureRequest) -> dict:
    marker = request.node.get_closest_marker("provision")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
async def stack(target: Target, bench: Bench, tmp_path, request) -> AsyncIterator[Chain]:
    """The whole chain; on a serial target, around the board on the bench
    (hwtest/serial_board.py), the phone on --ble bleak or bumble:TRANSPORT."""
    settings = provisioning(request)
    if target.kind == "emulated":
        chain = Chain.fresh(tmp_path / "stack", settings=settings)
    else:
        board = serial_board(bench, tmp_path / "board")
        link = target.link()
        chain = Chain.fresh(tmp_path / "stack", settings=settings, board=board, link=link)
        if link.startswith("bleak"):
            await forget_os_bond(board.address, link.partition(":")[2] or None)
    try:
        await chain.start()
        yield chain
    finally:
        await chain.stop()


def serial_board(bench: Bench, directory: Path) -> SerialBoard:
    """The board on the bench's serial port; skips with the reason when it cannot be."""
    assert bench.target.port is not None
    missing = port_missing(bench.target.port)
    if missing:
        pytest.skip(missing)
    if "address" not in bench.board:
        pytest.skip(
            "the whole chain needs the button's BLE identity address: "
            '[board] address = "AA:BB:CC:DD:EE:FF" in the bench file (--bench, docs/qa.md)'
        )
    baudrate = int(bench.board.get("baudrate", BAUDRATE))
    return SerialBoard(
        bench.target.port, directory, SerialDut(bench), str(bench.board["address"]), baudrate
    )


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
        # Queued once the firmware awaits its first press: the button listens.
        await device.console.expect("queued heartbeat")
        yield device
    finally:
        await device.close()
