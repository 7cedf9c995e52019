"""The real-board driver (hwtest/serial_board.py) against the emulated board's USB
serial port: the same pty, REPL and firmware that a bench board offers, minus the
relays. What runs here is the serial path; no real board is involved."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from boards.emulated.air import Air
from boards.emulated.emulator import EmulatedBoard
from boards.interface import Board
from hwtest import programs
from hwtest.bench import Bench, EmulatedDut, SerialDut, Target, needs
from hwtest.conftest import serial_board
from hwtest.harness import Chain
from hwtest.serial_board import SerialBoard
from hwtest.test_processes import finish, line_with, start
from msa import children
from msa.demo.stack import HOPS
from msa.testcli import start_nested_pytest
from msa.waiting import within

pytestmark = pytest.mark.hil

SERIAL = Target("serial", "/dev/ttyUSB97", "bleak")
RELAYS = """
[press]
relay = "/dev/ttyUSB98"
line = "rts"
[power]
relay = "/dev/ttyUSB98"
line = "dtr"
[board]
address = "C0:11:22:33:44:55"
"""


class HandsOnTheEmulatedBoard(SerialDut):
    """The bench's relays, stood in for by the emulated board's button pin and power:
    this computer has no relay. Everything else (console, REPL, firmware, radio,
    phone, backend) is the real thing."""

    def __init__(self, bench: Bench, board: EmulatedBoard) -> None:
        super().__init__(bench)
        self.board = board

    # The same hands as the emulated bench's: both use nothing but self.board.
    _hold = EmulatedDut._hold
    _power = EmulatedDut._power


def relay_bench(tmp_path: Path) -> Bench:
    config = tmp_path / "bench.toml"
    config.write_text(RELAYS)
    return Bench.serial(SERIAL, config)


def driver(board: EmulatedBoard, tmp_path: Path) -> SerialBoard:
    hands = HandsOnTheEmulatedBoard(relay_bench(tmp_path), board)
    return SerialBoard(board.serial_port, tmp_path / "serial", hands, board.address)


async def test_the_driver_reads_device_json_over_the_repl(board: EmulatedBoard, tmp_path):
    serial = driver(board, tmp_path)
    try:
        provisioned = await serial.read_provisioning()
        assert (provisioned["device_id"], provisioned["key"]) == (0x0BADCAFE, "42" * 32)
        # The firmware stopped for the REPL and stays stopped until provision():
        # the friendly REPL answers a return.
        serial.console.clear()
        serial.console.write(b"\r")
        await serial.console.expect(">>> ")
    finally:
        await serial.close()
    assert b"raw REPL" not in serial.console.log_path.read_bytes()  # mpremote had the port


async def test_provisioning_rewrites_device_json_erases_data_and_boots(
    board: EmulatedBoard, tmp_path
):
    await board.console.expect("queued heartbeat")  # data/ holds a counter and a queue
    assert any((board.flash / "data").iterdir())
    serial = driver(board, tmp_path)
    settings = {"device_id": 0x0BADCAFE, "key": "42" * 32, "pattern": "long", "hold_ms": 1500}
    try:
        await serial.read_provisioning()
        await serial.boot(settings)
        await serial.console.expect("alarm on a long press of 1500 ms")
        await serial.console.expect(r"queued heartbeat (\d+)")
    finally:
        await serial.close()
    assert json.loads((board.flash / "device.json").read_text()) == settings
    assert not (board.flash / "data" / "bonds.json").exists()
    # The heartbeat after the erase is the first frame of a new counter.
    counters = serial.unacknowledged(set())
    assert counters and counters[0] < 16


async def test_a_missing_device_json_says_how_to_provision(board: EmulatedBoard, tmp_path):
    (board.flash / "device.json").unlink()
    serial = driver(board, tmp_path)
    try:
        with pytest.raises(Exception, match="holds no device_id and key: provision it"):
            await serial.read_provisioning()
    finally:
        await serial.close()


async def test_what_only_the_emulated_board_has_skips_with_the_reason(tmp_path):
    serial = SerialBoard("/dev/ttyUSB97", tmp_path, SerialDut(relay_bench(tmp_path)), "C0:11")
    assert isinstance(serial, Board)  # the protocol the stack and the suite drive
    with pytest.raises(pytest.skip.Exception, match="board C0:11 has no cpu: its CPU is not"):
        needs(serial, "cpu")
    assert needs(EmulatedBoard(tmp_path / "emulated", Air()), "flash").flash.exists()


async def test_the_whole_chain_runs_through_the_serial_driver(tmp_path):
    """`Chain` given a SerialBoard, as the `stack` fixture builds it on a serial target:
    the backend is seeded with the id and key read over the REPL, device.json is
    rewritten, the console is the serial port, `settled()` uses what the host sees.
    Stand-ins: the relays (HandsOnTheEmulatedBoard) and the radio, which is the
    emulated board's Bumble air with the phone on bumble:local instead of bleak or a
    USB dongle: this computer has no Bluetooth controller."""
    chain = Chain.fresh(tmp_path / "stack")
    emulated = EmulatedBoard(tmp_path / "emulated", chain.air)
    emulated.flash_firmware()
    emulated.provision({"device_id": 0x00ABCDEF, "key": "5a" * 32})
    await emulated.power_on()
    chain.board = driver(emulated, tmp_path)
    try:
        await emulated.console.expect("queued heartbeat")
        await chain.start()
        assert chain.credentials["device_id"] == "00abcdef"
        assert chain.credentials["key"] == "5a" * 32  # the board's key, not a new one

        # A power cut through the bench's power relay, with the alarm still on the button.
        await chain.phone_away()
        chain.board.console.clear()
        await chain.board.press()
        counter = int((await chain.board.console.expect(rb"queued alarm (\d+)")).group(1))
        assert counter in chain.board.unacknowledged(set())
        await chain.board.power_cut()
        await chain.board.power_on()
        await chain.board.console.expect("msa: firmware")  # the port is back, logging
        seen = chain.console.next_alarm()
        await chain.phone_back()
        assert (await seen)["counter"] == counter
        await chain.settled()
        received = {c for _, c in chain.frames}
        assert counter in received and chain.board.unacknowledged(received) == []

        alarm = await chain.press()
        assert set(alarm.report()["hops_ms"]) == set(chain.hops) == set(HOPS) - {"ble_notify"}
        assert [e["counter"] for e in chain.console.alarms] == [counter, alarm.counter]
        assert (await chain.counts())["alarms"] == 2

        # The test call as msa arm-test arms it: over the REPL, the firmware rebooted,
        # the phone linked again (the button's clock set), then the gesture.
        await chain.arm_test_alarm()
        assert json.loads((emulated.flash / "data" / "test_armed").read_text())["until"] > 0
        test = await chain.gesture(chain.board.test_gesture())
        assert test.kind == "test_alarm"
    finally:
        await chain.stop()
        await emulated.close()


def test_the_bench_file_names_the_board(tmp_path):
    bench = relay_bench(tmp_path)
    assert bench.board == {"address": "C0:11:22:33:44:55"}
    assert bench.can["power"] == "relay on DTR of /dev/ttyUSB98"
    config = tmp_path / "bad.toml"
    config.write_text('[board]\nadress = "C0:11:22:33:44:55"\n')
    with pytest.raises(pytest.UsageError, match=r"\[board\] takes address"):
        Bench.serial(SERIAL, config)


def test_the_serial_chain_skips_without_a_port_or_an_address(tmp_path):
    with pytest.raises(pytest.skip.Exception, match="no serial port /dev/ttyUSB97: plug"):
        serial_board(relay_bench(tmp_path), tmp_path)
    here = Target("serial", "/dev/null", "bleak")  # a port that exists
    with pytest.raises(pytest.skip.Exception, match=r"\[board\] address = "):
        serial_board(Bench.serial(here, None), tmp_path)


@pytest.mark.parametrize(
    "ble, link",
    [("bleak", "bleak"), ("bleak:hci1", "bleak:hci1"), ("bumble:usb:0", "bumble:usb:0")],
)
def test_the_phone_link_on_a_real_board(ble, link):
    assert Target.parse("serial:/dev/ttyUSB0", ble).link() == link
    assert Target.parse("emulated", ble).link() == "bumble:local"


def test_bumble_without_a_transport_cannot_reach_a_real_board():
    target = Target.parse("serial:/dev/ttyUSB0", "bumble")
    with pytest.raises(pytest.skip.Exception, match="--ble bumble:usb:0"):
        target.link()
    with pytest.raises(pytest.UsageError, match="use bumble, bumble:TRANSPORT"):
        Target.parse("serial:/dev/ttyUSB0", "bluez")


def test_two_boards_are_two_ports_of_one_serial_target():
    two = Target.parse("serial:/dev/ttyUSB0,/dev/ttyACM1", "bleak")
    assert (two.port, two.ports) == ("/dev/ttyUSB0", ("/dev/ttyUSB0", "/dev/ttyACM1"))
    assert Target.parse("serial:/dev/ttyUSB0", "bleak").ports == ("/dev/ttyUSB0",)
    for wrong in ("serial:", "serial:/dev/ttyUSB0,", "serial:,/dev/ttyUSB1", "emulated:x", "usb"):
        with pytest.raises(pytest.UsageError, match="serial:/dev/ttyUSB0,/dev/ttyUSB1"):
            Target.parse(wrong, "bleak")


async def test_a_two_board_case_on_one_port_is_skipped_with_what_to_give(tmp_path):
    one = Target.parse("serial:/dev/null", "bleak")  # a port that exists
    with pytest.raises(pytest.skip.Exception, match="needs 2 boards: give each its port"):
        await programs.start(one, tmp_path, Air(), "print(1)", board=1)


async def output_of(process: asyncio.subprocess.Process, bound_s: float) -> str:
    """All `process` prints until it ends; past `bound_s` it is killed and the test
    fails with what it had printed."""
    assert process.stdout is not None
    output = bytearray()

    async def collect() -> None:
        while chunk := await process.stdout.read(65536):
            output.extend(chunk)
        await process.wait()

    try:
        await within(collect(), bound_s)
    except TimeoutError:
        await children.ended(process, grace_s=0)
        printed = output[-6000:].decode(errors="replace")
        pytest.fail(f"the run did not end within {bound_s:.0f} s; it printed:\n{printed}")
    return output.decode(errors="replace")


@pytest.mark.slow(seconds=35)
@pytest.mark.timeout(260)
async def test_the_alarm_path_cases_run_on_a_serial_target(tmp_path):
    """`pytest hwtest/test_alarm_path.py hwtest/test_out_of_range.py --target serial:PORT`:
    the `stack` and `dut` fixtures as a bench builds them, against `msa board run` in
    its own process: its serial pty stands in for the board's USB port, and the phone
    is Bumble on the board's air over TCP HCI (`--ble bumble:tcp-client:…`) where a
    bench has a USB dongle. The bench file names the board but has no relay: the
    cases that press skip, with the reason."""
    board = await start(
        *["board", "run", "--dir", str(tmp_path / "board"), "--hci-port", "0"],
        *["--device-id", "00c0ffee", "--key", "7e" * 32],  # the tech desk's provisioning
    )
    try:
        port = (await line_with(board, "serial port")).split()[4]
        address = (await line_with(board, "address")).split()[-1]
        hci = (await line_with(board, "phone HCI")).split()[-1]
        config = tmp_path / "bench.toml"
        config.write_text(f'[board]\naddress = "{address}"\n')
        # Its own per-case bound, inside ours: a hung case ends that run with its
        # stacks, which we then show.
        result = await start_nested_pytest(
            *["-o", "timeout=120", "hwtest/test_alarm_path.py", "hwtest/test_out_of_range.py"],
            *["--target", f"serial:{port}", "--bench", str(config), "--ble", hci],
            logs=tmp_path / "hil",
        )
        out = await output_of(result, 200)
        (tmp_path / "nested-pytest.log").write_text(out)  # kept with the HIL logs
    finally:
        await finish(board)
    assert re.search(r"^1 passed, 9 skipped", out.splitlines()[-1]), out[-3000:]
    passed = "PASSED hwtest/test_alarm_path.py::test_a_frame_with_a_wrong_mac_is_refused"
    assert passed in out, out[-3000:]
    reasons = re.findall(r"^SKIPPED \[\d+\] \S+: (.+)$", out, re.M)
    assert any("bench cannot press the button: no [press] relay" in r for r in reasons), out
    assert any("has no cpu: its CPU is not a process" in r for r in reasons), out
    assert any("the timed air is the emulated board's" in r for r in reasons), out
    assert any("the phone's MTU is set on the emulated air" in r for r in reasons), out
    # `dut` is the stack's board's: it reached the bench, which has no range relay.
    assert any("cannot take the board out of the phone's radio range" in r for r in reasons), out
    kept = tmp_path / "hil" / "test_alarm_path"
    wrong_mac = kept / "test_a_frame_with_a_wrong_mac_is_refused_and_nothing_is_stored"
    assert b"msa: firmware" in (wrong_mac / "console.log").read_bytes()  # read from the port
