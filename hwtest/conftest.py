"""The hardware-in-the-loop suite: the same tests against the emulated board
(default) or, from the bench, a real board.

    pytest hwtest                                  # emulated board, Bumble radio
    pytest hwtest --target serial:/dev/ttyUSB0 --ble bleak --bench bench.toml

Fixtures give each test a whole chain (backend, board, phone, console; see
host/msa/demo/stack.py), a board alone, or the device under test as the bench
can handle it (`dut`, hwtest/bench.py). The options, the bench and the keeping
of each case's console log (reports/hil/<module>/<case>/) are in hwtest/plugin.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from boards.emulated.air import Air
from boards.emulated.emulator import EmulatedBoard
from hwtest import plugin
from hwtest.bench import Target
from msa.demo.stack import Stack

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


def provisioning(request: pytest.FixtureRequest) -> dict:
    marker = request.node.get_closest_marker("provision")
    return dict(marker.kwargs) if marker else {}


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
        # Queued once the firmware awaits its first press: the button listens.
        await device.console.expect("queued heartbeat")
        yield device
    finally:
        await device.close()
