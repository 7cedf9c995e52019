"""Each part in its own process, as on a bench: `msa board run` with its air on TCP
HCI, `msa app` as the phone, `msa backend serve`. A press reaches the backend."""

from __future__ import annotations

import asyncio
import sys

import pytest

from msa import children
from msa.backend.process import BackendProcess
from msa.demo.console_client import ConsoleClient
from msa.demo.stack import run_msa_json
from msa.waiting import within

pytestmark = [pytest.mark.hil, pytest.mark.slow]


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "msa.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def line_with(process: asyncio.subprocess.Process, text: str) -> str:
    said = []
    while line := (await within(process.stdout.readline(), 30)).decode():
        if text in line:
            return line
        said.append(line)
    raise AssertionError(f"the process ended without printing {text!r}:\n{''.join(said)}")


async def finish(process: asyncio.subprocess.Process) -> None:
    await children.ended(process)


async def test_board_phone_and_backend_in_separate_processes(tmp_path, kek_file):
    database = f"sqlite:///{tmp_path / 'backend.db'}"
    kek = ("--kek-file", str(kek_file))
    seeded = await run_msa_json("backend", "seed-demo", "--db", database, *kek)
    backend = BackendProcess(database, tmp_path / "backend.log", kek_file)
    url = await backend.start()
    board = await start(
        "board",
        "run",
        "--dir",
        str(tmp_path / "board"),
        "--device-id",
        seeded["device_id"],
        "--key",
        seeded["key"],
        "--hci-port",
        "0",  # any free port: the board binds it and says which
    )
    phone = None
    console = ConsoleClient(url, seeded["operator_token"])
    try:
        address = (await line_with(board, "address")).split()[-1]
        hci = (await line_with(board, "phone HCI")).split()[-1]
        link = [
            "--button",
            address,
            "--link",
            hci,
            "--dir",
            str(tmp_path / "phone"),
        ]
        pairing = await start("app", "pair", *link)
        assert "bonded" in await line_with(pairing, "bonded")
        await pairing.wait()
        phone = await start(
            "app",
            "run",
            *link,
            "--backend",
            url,
            "--phone-token",
            seeded["phone_token"],
            "--device-id",
            seeded["device_id"],
        )
        await line_with(phone, "linked to the button")
        await console.start()
        seen = console.next_alarm()
        control = await start("board", "press", "--dir", str(tmp_path / "board"))
        assert await control.wait() == 0
        event = await within(seen, 30)
    finally:
        await console.stop()
        for process in (phone, board):
            if process is not None:
                await finish(process)
        await backend.stop()
    assert event["kind"] == "alarm"
    assert event["device_id"] == seeded["device_id"]
