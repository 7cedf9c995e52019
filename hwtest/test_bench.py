"""The bench's capabilities: what a bench cannot do skips the case with the reason."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hwtest.bench import ACTS, Bench, SerialDut, Target
from msa.testcli import nested_env

PORT = "serial:/dev/ttyUSB97"  # no such port: nothing may reach it
SERIAL = Target("serial", "/dev/ttyUSB0", "bleak")


def test_the_emulated_board_can_do_everything():
    bench = Bench.emulated(Target("emulated", None, "bumble"))
    assert bench.can.keys() == ACTS.keys() and not bench.cannot


async def test_a_bench_without_a_file_skips_every_act_with_its_reason():
    dut = SerialDut(Bench.serial(SERIAL, None))
    acts = {
        "press the button": dut.press(),
        "hold the button down": dut.long_press(),
        "cut power": dut.power_cut(),
        "take the board out of the phone's radio range": dut.out_of_range(),
    }
    for act, attempt in acts.items():
        with pytest.raises(pytest.skip.Exception, match=f"bench cannot {act}: no \\["):
            await attempt
    with pytest.raises(pytest.skip.Exception, match="bench cannot set the battery voltage: msa"):
        dut.set_battery_mv(3000)


def test_a_bench_file_declares_its_relays(tmp_path):
    config = tmp_path / "bench.toml"
    config.write_text('[press]\nrelay = "/dev/ttyUSB1"\nline = "RTS"\n')
    bench = Bench.serial(SERIAL, config)
    assert bench.can["press"] == bench.can["long_press"] == "relay on RTS of /dev/ttyUSB1"
    bench.require("long_press")
    with pytest.raises(
        pytest.skip.Exception, match=f"cannot cut power: no \\[power\\] relay in {config}"
    ):
        bench.require("power")


@pytest.mark.parametrize(
    "text, message",
    [
        ('[buzzer]\nrelay = "/dev/ttyUSB1"\n', r"unknown section\(s\) \['buzzer'\]"),
        (
            '[power]\nrelay = "/dev/ttyUSB1"\nline = "cts"\n',
            "needs relay = PORT and line = rts or dtr",
        ),
        ("[power\n", "--bench"),
    ],
)
def test_a_wrong_bench_file_is_a_usage_error(tmp_path, text, message):
    config = tmp_path / "bench.toml"
    config.write_text(text)
    with pytest.raises(pytest.UsageError, match=message):
        Bench.serial(SERIAL, config)


@pytest.mark.timeout(240)
def test_on_a_serial_target_no_hil_case_passes_without_the_board():
    """Every HIL case either drives the target or is skipped with its reason."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "hwtest", "-m", "hil"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).resolve().parents[1],
        env=nested_env(PYTEST_ADDOPTS="--target serial:/dev/ttyUSB97 -rs -q -p no:cacheprovider"),
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ skipped, \d+ deselected in .*", summary), result.stdout[-3000:]
    reasons = re.findall(r"^SKIPPED \[\d+\] \S+: (.+)$", result.stdout, re.M)
    assert reasons and all(r.strip() for r in reasons)
    assert any(f"not the board on {PORT}" in r for r in reasons)
    # The whole chain (`stack`) needs the board itself: no port, no chain.
    assert any("no serial port /dev/ttyUSB97: plug the board in" in r for r in reasons)
