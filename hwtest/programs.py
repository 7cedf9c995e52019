"""Run a MicroPython program (hwtest/conformance/*.py) on the board under test and
read what it prints: the emulated board boots it as its main.py; a real board runs it
with mpremote over its serial port, as MicroPython's own multitests do.

Values the program needs from the test (another board's address) are prepended as
assignments, as `multitest.globals()` does.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any, Protocol

import pytest

from boards.emulated.air import Air
from boards.emulated.emulator import EmulatedBoard
from hwtest.bench import Target
from hwtest.serial_board import port_missing
from msa.waiting import within

PROGRAMS = Path(__file__).parent / "conformance"
RUN_TIMEOUT_S = 60.0


def mpremote_path() -> str:
    """This environment's mpremote (installed with the project), else the one on PATH."""
    return shutil.which("mpremote", path=str(Path(sys.executable).parent)) or "mpremote"


async def mpremote(port: str, *args: str, timeout: float = 30) -> str:
    """Run mpremote on a board's port (a real one, or an emulated board's pty) and
    return what it printed; it must succeed."""
    process = await asyncio.create_subprocess_exec(
        mpremote_path(), "connect", port, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await within(process.communicate(), timeout)
    assert process.returncode == 0, out.decode()
    return out.decode()


def source(name: str, **values: Any) -> str:
    given = "".join(f"{key} = {value!r}\n" for key, value in values.items())
    return given + (PROGRAMS / name).read_text()


class Running(Protocol):
    """A program started on a board: its output so far, and a way to wait for a line."""

    async def expect(self, pattern: str, timeout: float = RUN_TIMEOUT_S) -> str: ...

    @property
    def output(self) -> str: ...

    async def stop(self) -> None: ...


class OnEmulatedBoard:
    """The program as the emulated board's main.py, on an air shared with others."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board

    @classmethod
    async def start(cls, folder: Path, air: Air, program: str) -> OnEmulatedBoard:
        board = EmulatedBoard(folder, air)
        (board.flash / "main.py").write_text(program)
        await board.power_on()
        return cls(board)

    async def expect(self, pattern: str, timeout: float = RUN_TIMEOUT_S) -> str:
        assert self.board.console is not None
        return (await self.board.console.expect(pattern, timeout)).group(0).decode()

    @property
    def output(self) -> str:
        assert self.board.console is not None
        return self.board.console.output.decode(errors="replace")

    async def stop(self) -> None:
        await self.board.close()


class OnSerialBoard:
    """The program run by mpremote on a real board; its output as mpremote prints it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._output = b""

    @classmethod
    async def start(cls, port: str, folder: Path, program: str) -> OnSerialBoard:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "program.py"
        path.write_text(program)
        process = await asyncio.create_subprocess_exec(
            mpremote_path(), "connect", port, "run", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        return cls(process)

    async def expect(self, pattern: str, timeout: float = RUN_TIMEOUT_S) -> str:
        import re

        assert self.process.stdout is not None
        wanted = re.compile(pattern.encode())

        async def read() -> str:
            while not (found := wanted.search(self._output)):
                chunk = await self.process.stdout.read(4096)  # type: ignore[union-attr]
                if not chunk:
                    raise AssertionError(f"the program ended without {pattern!r}")
                self._output += chunk
            return found.group(0).decode()

        return await within(read(), timeout)

    @property
    def output(self) -> str:
        return self._output.decode(errors="replace")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


async def start(target: Target, folder: Path, air: Air, program: str, board: int = 0) -> Running:
    """The program on the target's board number `board` (on a serial target, its
    port of that rank in --target serial:P1,P2); when that board is not there, the
    case is skipped with the reason."""
    if target.kind == "emulated":
        return await OnEmulatedBoard.start(folder, air, program)
    if board >= len(target.ports):
        pytest.skip(
            f"this case needs {board + 1} boards: give each its port, "
            "--target serial:/dev/ttyUSB0,/dev/ttyUSB1"
        )
    port = target.ports[board]
    missing = port_missing(port)
    if missing:
        pytest.skip(missing)
    return await OnSerialBoard.start(port, folder, program)


def results(output: str) -> dict[str, str]:
    """A program's "PASS name" / "FAIL name: why" lines, by name."""
    found: dict[str, str] = {}
    for line in output.replace("\r\n", "\n").splitlines():
        verdict, _, rest = line.partition(" ")
        if verdict in ("PASS", "FAIL"):
            name, _, why = rest.partition(": ")
            found[name] = "PASS" if verdict == "PASS" else why or "FAIL"
    return found
