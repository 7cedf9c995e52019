"""`msa board`: the bench's hand on an emulated board, from a terminal."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys

import pytest

from hwtest.rows import wait_until
from msa import children
from msa.testcli import start_nested_pytest
from msa.waiting import within

pytestmark = pytest.mark.hil


async def msa(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "msa.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await within(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_a_running_board_is_pressed_and_power_cycled_from_the_command_line(tmp_path):
    folder = tmp_path / "board"
    running = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "msa.cli",
        "board",
        "run",
        "--dir",
        str(folder),
        "--device-id",
        "c0ffee",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        first = await within(running.stdout.readline(), 30)
        assert b"serial port" in first
        await msa("board", "press", "--dir", str(folder))
        await msa("board", "battery", "2900", "--dir", str(folder))
        await msa("board", "power", "cycle", "--dir", str(folder))
        status = json.loads(await msa("board", "status", "--json", "--dir", str(folder)))
        # The folder is the running board's: a second board on the same flash is refused.
        second = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "msa.cli", "board", "run", "--dir", str(folder)],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, refusal = await within(second.communicate(), 30)
        assert second.returncode == 2
        assert f"in use by msa board run (pid {running.pid})" in refusal.decode()
        # booted, and booted again after the cut
        log = await log_with(folder / "console.log", "msa: firmware", times=2)
    finally:
        await children.ended(running)
    assert status["powered"] is True
    assert status["battery_mv"] == 2900
    assert {"advertising_events", "connection_events", "notifications"} <= status.keys()
    assert status["air_address"] == status["address"]  # no bond yet: its identity address
    assert "queued alarm 2" in log


async def log_with(path, text, times, timeout=10.0):
    """The console log once `text` is in it `times` times (a condition wait)."""
    log = ""

    def seen() -> bool:
        nonlocal log
        log = path.read_text()
        return log.count(text) >= times

    await wait_until(seen, timeout, lambda: f"{text!r} {times} times in {path}:\n{log}", every=0.02)
    return log


@pytest.mark.parametrize("port", ["in use", "70000"])
async def test_an_hci_port_it_cannot_have_is_refused_with_what_to_do(tmp_path, port):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        number = str(taken.getsockname()[1]) if port == "in use" else port
        process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "msa.cli", "board", "run", "--dir", str(tmp_path / "b")],
            *["--hci-port", number],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=children.preexec(),
        )
        out, err = await within(process.communicate(), 30)
    assert process.returncode != 0 and b"Traceback" not in err
    assert f"--hci-port {number}:".encode() in err
    assert b"0 for any free one" in err
    assert b"serial port" not in out  # refused before the board was powered


async def test_two_emulated_boards_run_the_two_board_case_as_two_real_ones(tmp_path):
    """`msa board run --boards 2 --blank`: two boards with MicroPython alone, on one
    air. The conformance suite's two-board case runs on them as on two boards on a
    bench: pytest --target serial:PORT1,PORT2, each program by `mpremote run`."""
    folder = tmp_path / "boards"
    running = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "msa.cli", "board", "run", "--boards", "2", "--blank"],
        *["--dir", str(folder)],
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=children.preexec(),
    )
    try:
        said = b""
        while said.count(b"msa board: control") < 2:
            said += await within(running.stdout.readline(), 30)
        ports = [port.decode() for port in re.findall(rb"serial port  (\S+)", said)]
        assert len(ports) == 2
        case = "hwtest/test_conformance_link.py::test_two_boards_one_central_one_peripheral"
        nested = await start_nested_pytest(
            case, "--target", f"serial:{ports[0]},{ports[1]}", logs=tmp_path / "hil"
        )
        out, _ = await within(nested.communicate(), 120)
    finally:
        running.terminate()
        await running.wait()
    said = out.decode()
    assert said.splitlines()[-1].startswith("1 passed"), said[-3000:]
    # Each program ran on its own board, the first the peripheral.
    assert b"ADVERTISING" in (folder / "board1" / "console.log").read_bytes()
    assert b"CONNECTED 1 True" in (folder / "board2" / "console.log").read_bytes()
