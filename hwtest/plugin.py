"""The HIL suite's pytest plugin: options, the bench, the device under test, the logs.

    pytest hwtest                                   # the emulated board (default)
    pytest hwtest --target serial:/dev/ttyUSB0 --ble bleak --bench bench.toml

After each case the board's console log (and any other log the case left in its
tmp folder) is kept in <run>/hil/<module>/<case>/ (<run>: the run's report folder,
msa.reports) and named in the JUnit XML report as the case's `console_log`
property; a failed case also carries the tail of the log in its report.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hwtest.bench import Bench, Dut, EmulatedDut, SerialDut, Target
from msa import reports

LOGS_READY = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("msa-hil", "msa hardware-in-the-loop")
    group.addoption(
        "--target",
        default="emulated",
        help="the board under test: emulated (default) or serial:PORT; the two-board "
        "cases take a second board: serial:PORT1,PORT2",
    )
    group.addoption("--ble", default="bumble", help="the phone's BLE stack: bumble or bleak")
    group.addoption(
        "--bench",
        type=Path,
        default=None,
        help="a serial bench's capabilities (TOML: [press], [power], [range] relays; docs/qa.md)",
    )
    group.addoption(
        "--hil-logs",
        type=Path,
        default=None,
        help="where each case's board console log is kept (default: reports/hil)",
    )


TARGET_FIXTURES = {"target", "bench", "dut", "stack", "board"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """On a real board, a HIL case that builds its own emulated board is skipped:
    it would pass whatever the board on the bench does."""
    if item.get_closest_marker("hil") is None:
        return
    spec = item.config.getoption("--target")
    if spec.startswith("serial:") and not TARGET_FIXTURES & set(item.fixturenames):
        pytest.skip(f"this case runs its own emulated board, not the board on {spec}")


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    return Target.parse(request.config.getoption("--target"), request.config.getoption("--ble"))


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest, target: Target) -> Bench:
    """What the bench can do to the board (all of it, on the emulated board)."""
    if target.kind == "emulated":
        return Bench.emulated(target)
    return Bench.serial(target, request.config.getoption("--bench"))


@pytest.fixture
async def dut(request: pytest.FixtureRequest, bench: Bench) -> AsyncIterator[Dut]:
    """The device under test: the `board` fixture's if the case uses it, else the stack's."""
    if bench.target.kind == "emulated":
        if "board" in request.fixturenames:
            board = request.getfixturevalue("board")
        else:
            board = request.getfixturevalue("stack").board
        yield EmulatedDut(bench, board)
        return
    if "stack" in request.fixturenames:  # the stack's board holds the relays' ports
        yield request.getfixturevalue("stack").board.dut
        return
    device = SerialDut(bench)
    try:
        yield device
    finally:
        device.close()


# -- the console log of each case ------------------------------------------------


def case_folder(item: pytest.Item) -> Path:
    """reports/hil/<module>/<case>: where a case's logs are kept."""
    root = item.config.getoption("--hil-logs") or reports.run_folder() / "hil"
    module = Path(item.nodeid.split("::", 1)[0]).stem
    case = re.sub(r"[^\w.\[\]=,+-]+", "_", item.name)
    return Path(root) / module / case


def keep_logs(item: pytest.Item) -> list[Path]:
    """Copy the logs the case left in its tmp folder to its case folder."""
    tmp = item.funcargs.get("tmp_path") if hasattr(item, "funcargs") else None
    if tmp is None:
        return []
    logs = sorted(Path(tmp).rglob("*.log"))
    if not logs:
        return []
    root = case_folder(item).parents[1]
    if LOGS_READY not in item.config.stash:  # the first case of this run: forget the last run
        item.config.stash[LOGS_READY] = root
        for module in root.glob("test_*"):
            shutil.rmtree(module, ignore_errors=True)
    folder = case_folder(item)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    names = [log.name for log in logs]
    kept = []
    for log in logs:
        relative = log.relative_to(tmp)
        name = log.name if names.count(log.name) == 1 else "-".join(relative.parts)
        shutil.copyfile(log, folder / name)
        kept.append(folder / name)
    return kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    if call.when == "teardown":  # the boards are closed: their logs are whole
        for path in keep_logs(item):
            if path.name.endswith("console.log"):
                item.user_properties.append(("console_log", str(path)))
    report = yield
    if report.failed and call.when != "teardown":
        funcargs = getattr(item, "funcargs", {})
        for log in sorted(Path(funcargs.get("tmp_path", "/nonexistent")).rglob("console.log")):
            tail = log.read_text(errors="replace")[-3000:]
            kept = case_folder(item)
            report.sections.append((f"board console ({log}; kept in {kept})", tail))
    return report
