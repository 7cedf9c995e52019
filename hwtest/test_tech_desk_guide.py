"""docs/tech-desk.md, run: every `msa` command of its `sh` blocks, in the guide's
order, as the officer types it, against two emulated buttons over their
pseudo-terminals (`/dev/ttyUSB0`, and the replacement on `/dev/ttyUSB1`), a real
backend and the victim's phone. Where the guide has the officer act (pair the
phone, make the test gesture, the CIC confirms), the test acts. The environment
the guide sets (`MSA_DATABASE_URL`, `MSA_KEK`) is this test's database and KEK,
and `--board esp32` is the emulated board's kind."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from boards.emulated.air import Air
from boards.emulated.emulator import EmulatedBoard
from hwtest.desk import STEP_S, make_test_call, victims_phone
from msa.app.phone import Phone
from msa.backend.process import BackendProcess, msa_command
from msa.demo.console_client import ConsoleClient
from msa.demo.stack import run_msa_json
from msa.waiting import cancelled, within

pytestmark = [
    pytest.mark.hil,
    pytest.mark.slow(seconds=40),
    pytest.mark.emulated_only("the guide's buttons here are emulated boards on pseudo-terminals"),
]

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDE = DOCS / "tech-desk.md"
PORTS = ("/dev/ttyUSB0", "/dev/ttyUSB1")


def guide_commands(text: str) -> list[str]:
    """The `msa` commands of the guide's sh blocks, in order."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("msa "):
                commands.append(line)
    return commands


def test_the_guide_has_its_commands_in_sh_blocks():
    commands = guide_commands(GUIDE.read_text())
    verbs = {" ".join(shlex.split(c)[1:3]) for c in commands}
    for wanted in ("provision --port", "decommission --port", "arm-test --port",
                   "backend revoke", "backend case-add", "inventory add"):  # fmt: skip
        assert wanted in verbs


class Officer:
    """What the guide asks of the officer, the victim and the CIC, done."""

    def __init__(self, folder: Path, env: dict[str, str], boards: dict[str, EmulatedBoard],
                 air: Air, url: str, console: ConsoleClient, operator: str) -> None:  # fmt: skip
        self.folder, self.env, self.boards, self.air = folder, env, boards, air
        self.url, self.console, self.operator = url, console, operator
        self.tokens: dict[int, str] = {}  # the phone's, per key epoch

    def argv(self, command: str) -> list[str]:
        words = shlex.split(command)[1:]
        words = [self.boards[w].serial_port if w in self.boards else w for w in words]
        return ["emulated" if w == "esp32" else w for w in words]

    async def run(self, command: str) -> None:
        argv = self.argv(command)
        process = await asyncio.create_subprocess_exec(
            *msa_command(*argv), env=self.env, cwd=self.folder,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert process.stdout is not None
        board = self._board(command)
        device = argv[argv.index("--device-id") + 1] if "--device-id" in argv else ""
        epoch = 0
        said = []
        while line := (await within(process.stdout.readline(), STEP_S)).decode():
            said.append(line)
            if found := re.search(r"key epoch (\d+)", line):
                epoch = int(found.group(1))
            elif found := re.search(r"phone token (\S+)", line):
                self.tokens[epoch] = found.group(1)
            elif "pair the victim's phone" in line:
                phone = self._phone(board, device)
                await phone.pair()
                await phone.link.close()
            elif "make the test gesture" in line:
                await self._test_call(board, device)
        code = await within(process.wait(), STEP_S)
        assert code == 0, f"$ {command}\n{''.join(said)}"

    def _board(self, command: str) -> EmulatedBoard | None:
        return next((b for port, b in self.boards.items() if port in command), None)

    def _phone(self, board: EmulatedBoard | None, device: str) -> Phone:
        assert board is not None
        tokens = dict(self.tokens)
        return victims_phone(self.folder / "phone", board, self.air, self.url, tokens, device)

    async def _test_call(self, board: EmulatedBoard | None, device: str) -> None:
        assert board is not None
        phone = self._phone(board, device)
        relay = asyncio.create_task(phone.run())
        try:
            await make_test_call(phone, board, self.console, self.url, self.operator)
        finally:
            await cancelled(relay)
            await phone.link.close()
            await phone.forwarder.close()


async def test_every_command_of_the_guide_works_in_its_order(tmp_path):
    folder = tmp_path / "desk"
    folder.mkdir()
    for example in ("case.json", "settings.json"):
        shutil.copy(DOCS / "examples" / example, folder / example)
    db, kek = f"sqlite:///{tmp_path}/msa.db", tmp_path / "kek"
    await run_msa_json("backend", "kek-new", str(kek))
    env = {**os.environ, "MSA_DATABASE_URL": db, "MSA_KEK": kek.read_text().strip()}
    env.pop("MSA_KEK_FILE", None)
    operator = await run_msa_json("backend", "operator-add", "cic-1", "--db", db)
    air = Air()
    boards = {port: EmulatedBoard(tmp_path / f"board{n}", air) for n, port in enumerate(PORTS)}
    backend = BackendProcess(db, tmp_path / "backend.log", kek)
    console = None
    try:
        for board in boards.values():
            board.flash_firmware()
            await board.power_on()
        url = await backend.start()
        console = ConsoleClient(url, operator["token"])
        await console.start()
        officer = Officer(folder, env, boards, air, url, console, operator["token"])
        commands = guide_commands(GUIDE.read_text())

        for command in commands:
            await officer.run(command)

        replacement = boards[PORTS[1]]
        assert not (replacement.flash / "device.json").exists()  # decommissioned at the end
        inventory = await run_msa_json("inventory", "--db", db)
        [brussel] = [d for d in inventory["districts"] if d["district"] == "Brussel"]
        assert (brussel["stock"], brussel["lost"], brussel["assigned"]) == (2, 0, 0)
    finally:
        if console is not None:
            await console.stop()
        for board in boards.values():
            await board.close()
        await backend.stop()
