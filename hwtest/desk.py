"""The tech desk on the bench: a blank emulated button with its firmware, a backend
with the guide's example case, a CIC console, the victim's phone (the app link on
Bumble, on the button's air) and `msa provision` read line by line as the officer
reads it. For hwtest/test_lifecycle.py and `msa bench provision`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from boards.emulated.air import Air
from boards.emulated.emulator import EmulatedBoard
from msa.app.bumble_link import BumbleLink
from msa.app.forwarder import Forwarder
from msa.app.outbox import Outbox
from msa.app.phone import Phone
from msa.backend.process import BackendProcess, msa_command
from msa.demo.console_client import ConsoleClient
from msa.demo.stack import run_msa_json
from msa.waiting import within

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "case.json"
REFERENCE = json.loads(EXAMPLE.read_text())["reference"]
STEP_S = 60.0


class Provisioning:
    """One `msa provision` run and what it has said so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.said = ""
        self._read = 0  # where the last match ended: each `until` looks further on

    async def until(self, pattern: str) -> re.Match[str]:
        """Read on until what it said after the last match matches `pattern`."""
        assert self.process.stdout is not None
        wanted = re.compile(pattern)
        while not (found := wanted.search(self.said, self._read)):
            line = await within(self.process.stdout.readline(), STEP_S)
            assert line, f"msa provision ended without {pattern!r}:\n{self.said}"
            self.said += line.decode()
        self._read = found.end()
        return found

    async def killed(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def finished(self) -> str:
        """All it said; AssertionError unless it ended well."""
        assert self.process.stdout is not None
        rest = await within(self.process.stdout.read(), STEP_S)
        self.said += rest.decode()
        assert await self.process.wait() == 0, self.said
        return self.said


@dataclass
class Desk:
    board: EmulatedBoard
    air: Air
    directory: Path
    db: str
    kek: Path
    url: str
    operator_token: str
    console: ConsoleClient

    async def provision(self, device: str, *more: str) -> Provisioning:
        process = await asyncio.create_subprocess_exec(
            *msa_command(
                "provision", "--port", self.board.serial_port, "--case", REFERENCE,
                "--device-id", device, "--db", self.db, "--kek-file", str(self.kek), *more,
            ),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        return Provisioning(process)

    def phone(self, device: str, token: str) -> Phone:
        """The victim's phone with the 112 app, given its token."""
        return victims_phone(self.directory / "phone", self.board, self.air, self.url,
                             token, device)  # fmt: skip

    async def test_call(self, phone: Phone) -> dict[str, Any]:
        return await make_test_call(phone, self.board, self.console, self.url, self.operator_token)

    async def decommission(self, device: str) -> dict[str, Any]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "msa.cli", "decommission", "--port", self.board.serial_port,
            "--device-id", device, "--db", self.db, "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await within(process.communicate(), STEP_S)
        assert process.returncode == 0, err.decode()
        result: dict[str, Any] = json.loads(out)
        return result


def victims_phone(
    folder: Path, board: EmulatedBoard, air: Air, url: str, token: str | dict[int, str],
    device: str,
) -> Phone:  # fmt: skip
    """The victim's phone (the app link on `air`) for `board`, relaying to `url` with
    `token` (or one per key epoch); its bonds and outbox in `folder`, one phone for
    every button it is given."""
    link = BumbleLink(board.address, folder, local_link=air)
    outbox = Outbox(folder / "outbox.db")
    return Phone(link, outbox, Forwarder(outbox, url, token), int(device, 16))


async def make_test_call(
    phone: Phone, board: EmulatedBoard, console: ConsoleClient, url: str, operator_token: str
) -> dict[str, Any]:
    """The test call, the phone relaying (`phone.run()`): once it is linked (the button's
    clock set), the test gesture; the console shows the TEST ALARM, and the operator
    acknowledges and confirms it, as the console sends those steps. The alarm shown."""
    await within(phone.linked.wait(), STEP_S)
    shown = console.next_alarm()
    await board.test_gesture()
    test = await within(shown, STEP_S)
    assert test["test"], test
    headers = {"Authorization": f"Bearer {operator_token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as cic:
        for step in ("acknowledge", "confirm-test"):
            answer = await cic.post(f"/api/v1/alarms/{test['alarm_id']}/{step}", json={})
            assert answer.status_code == 200, answer.text
    return test


@contextlib.asynccontextmanager
async def tech_desk(directory: Path) -> AsyncIterator[Desk]:
    """A blank button with its firmware, the guide's case, a backend and a CIC console."""
    air = Air()
    board = EmulatedBoard(directory / "board", air)
    board.flash_firmware()
    db, kek = f"sqlite:///{directory}/msa.db", directory / "kek"
    await run_msa_json("backend", "kek-new", str(kek))
    await run_msa_json("backend", "case-add", str(EXAMPLE), "--db", db)
    operator = await run_msa_json("backend", "operator-add", "cic-1", "--db", db)
    backend = BackendProcess(db, directory / "backend.log", kek)
    url = await backend.start()
    console = ConsoleClient(url, operator["token"])
    try:
        await board.power_on()
        await board.console.expect("not provisioned")
        await console.start()
        yield Desk(board, air, directory, db, kek, url, operator["token"], console)
    finally:
        await console.stop()
        await board.close()
        await backend.stop()
