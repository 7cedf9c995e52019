"""Nothing the tools start outlives them, and a board nobody listens to never stops
the host: its serial port drops what nobody reads, as a real USB serial does."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tty
from pathlib import Path

import pytest

from boards.emulated.console import SERIAL_BUFFER_BYTES, Pipe
from hwtest.rows import wait_until
from msa import children

ROOT = Path(__file__).resolve().parents[1]


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (children of children included)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def raw_pty() -> tuple[int, int]:
    """A pty pair as the board's serial port: (master, slave) in raw mode."""
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_a_pipe_nobody_reads_drops_its_oldest_bytes_and_never_blocks():
    reader, writer = raw_pty()
    try:
        pipe = Pipe(reader, limit=4096)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        chunk = b"x" * 1024
        for _ in range(2000):  # 2 MB into a pty whose other end nobody reads
            pipe.write(chunk)
            await asyncio.sleep(0)
        ticker.cancel()
        assert pipe.dropped > 1_000_000
        assert ticks >= 1000  # the loop went on turning between the writes
        pipe.close()
    finally:
        os.close(reader)
        os.close(writer)


async def test_a_pipe_delivers_everything_to_a_reader_that_keeps_up():
    reader, writer = raw_pty()
    os.set_blocking(writer, False)
    received = bytearray()
    try:
        pipe = Pipe(reader)
        loop = asyncio.get_running_loop()

        def read() -> None:
            try:
                received.extend(os.read(writer, 65536))
            except BlockingIOError:
                pass

        loop.add_reader(writer, read)
        sent = bytes(range(256)) * 1024  # 256 KiB, more than the pty holds at once
        for start in range(0, len(sent), 4096):
            pipe.write(sent[start : start + 4096])
            # A reader such as mpremote: behind by less than the serial buffer.
            behind = lambda: start + 4096 - len(received) < SERIAL_BUFFER_BYTES // 2  # noqa: B023,E731
            await wait_until(behind, 10, "the reader to catch up")
        await wait_until(
            lambda: len(received) >= len(sent),
            10,
            lambda: (
                f"all 256 KiB read; read {len(received)}, waiting {len(pipe._waiting)}, "
                f"watching {pipe._watching}, dropped {pipe.dropped}"
            ),
        )
        loop.remove_reader(writer)
        assert pipe.dropped == 0 and bytes(received) == sent
        pipe.close()
    finally:
        os.close(reader)
        os.close(writer)


@pytest.mark.hil
@pytest.mark.slow
async def test_a_board_power_cycled_500_times_with_nobody_on_its_port(board):
    board.console.clear()
    for _ in range(500):
        await board.power_cut()
        await board.power_on()
    await board.power_cut()
    board.console.clear()  # from here, the last boot's own output
    await board.power_on()
    # Its firmware started: a ^C as mpremote's stops it for the REPL.
    await board.console.expect("queued heartbeat", timeout=30)
    # Then a REPL that prints 256 KiB at once, to a port that is written to
    # (^C, a command) and never read.
    port = os.open(board.serial_port, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(port, b"\x03\r")
        await board.console.expect(">>> ", timeout=30)
        os.write(port, b"for i in range(256): print('%04d' % i + 'x' * 1019)\r\r")
        await board.console.expect("0255x{1019}", timeout=60)
    finally:
        os.close(port)
    await board.power_cut()
    await board.power_on()
    await board.console.expect("queued heartbeat", timeout=30)
    # What nobody read past the serial buffer was dropped instead of stopping
    # the host (the bug: a blocking write once ~16 KB sat unread).
    assert len(board.console.output) > 256 * 1024
    assert board.console.dropped > 0


def test_a_guard_runs_its_cleanup_when_its_parent_is_killed(tmp_path):
    marker = tmp_path / "cleaned"
    script = (
        "import sys, time; from msa import children; "
        f"children.guard(['touch', {str(marker)!r}]); print('ready', flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        asyncio.run(wait_until(marker.exists, 10, "the guard's cleanup to run"))
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.hil
@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["demo", "--headless", "--presses", "1000"], id="demo"),
        pytest.param(["bench", "latency", "--presses", "1000", "--json"], id="bench"),
    ],
)
def test_killing_a_tool_with_sigkill_leaves_no_process_behind(tmp_path, command):
    tool = subprocess.Popen(
        [sys.executable, "-m", "msa.cli", *command],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=children.preexec(),
    )
    try:
        # Wait until it has started its children (backend, board interpreter).
        asyncio.run(wait_until(lambda: len(descendants(tool.pid)) >= 2, 60, "the tool's children"))
        started = descendants(tool.pid)
        tool.send_signal(signal.SIGKILL)
        tool.wait(10)
        asyncio.run(
            wait_until(
                lambda: not [pid for pid in started if alive(pid)],
                15,
                f"the children of the killed tool ({sorted(started)}) to end",
            )
        )
    finally:
        tool.kill()
        tool.wait()
