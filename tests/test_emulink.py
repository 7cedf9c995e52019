"""The wire between the emulated board's interpreter and its hardware
(boards/emulated/rom/_emulink.py), under the real MicroPython: every IRQ the
host waits on is answered, however the events fall against the interpreter's
own reading of the socket (a watcher thread's scheduled reader and the asyncio
pump race for it)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

from boards.emulated.emulator import ROM
from boards.emulated.interpreter import micropython_path
from msa import children
from msa.waiting import within

IRQS = 20000  # the old lost wake-up showed in one run of two
ANSWER_TIMEOUT_S = 2.0  # an IRQ left behind waits for the host's next message: never

BOARD = """
import asyncio, _emulink
_emulink.on("irq", lambda message: message["data"][0] + 1)
_emulink.tell("ready")
async def busy():
    while True:
        for _ in range(50):
            pass
        await asyncio.sleep_ms(0)
asyncio.run(busy())
"""


async def test_every_sync_irq_is_answered_while_the_board_works():
    answers: asyncio.Queue[dict] = asyncio.Queue()
    connected: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            message = json.loads(line)
            if message.get("op") == "ready":
                connected.set_result(writer)
            elif "sync" in message:
                answers.put_nowait(message)

    with tempfile.TemporaryDirectory(prefix="msa-link-") as folder:
        path = Path(folder) / "board.sock"
        server = await asyncio.start_unix_server(serve, path=str(path))
        board = await asyncio.create_subprocess_exec(
            micropython_path(),
            "-c",
            BOARD,
            env={**os.environ, "MICROPYPATH": f"{ROM}:.frozen", "MSA_BOARD_SOCKET": str(path)},
            preexec_fn=children.preexec(),
        )
        try:
            writer = await within(connected, 10)
            for n in range(IRQS):
                writer.write(json.dumps({"irq": 3, "data": [n], "sync": n}).encode() + b"\n")
                try:
                    answer = await within(answers.get(), ANSWER_TIMEOUT_S)
                except TimeoutError:
                    raise AssertionError(f"IRQ {n} of {IRQS} was never answered") from None
                assert answer == {"sync": n, "ret": n + 1}
        finally:
            board.kill()
            await board.wait()
            server.close()
