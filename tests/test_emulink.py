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
LONG = "x" * 3000  # an event longer than one read: the reader loops

BUSY = """
async def busy():
    while True:
        for _ in range(50):
            pass
        await asyncio.sleep_ms(0)
asyncio.run(busy())
"""
# The handler answers at once, or after a round trip to the host (as gatts_read is).
ANSWERS = 'lambda message: message["data"][0] + 1'
ASKS = 'lambda message: _emulink.call("echo", message["data"][0]) + 1'


def board_program(handler: str) -> str:
    head = f"import asyncio, _emulink\n_emulink.on('irq', {handler})\n_emulink.tell('ready')"
    return f"{head}\n{BUSY}"


async def answered(handler: str, irqs: int, burst: int, padding: str = "") -> None:
    """Send `irqs` sync IRQs, `burst` at a time (each `padding` long), to a busy board
    whose IRQ handler is `handler`; AssertionError naming the first IRQ not answered
    in time."""
    answers: asyncio.Queue[dict] = asyncio.Queue()
    connected: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            message = json.loads(line)
            if message.get("op") == "ready":
                connected.set_result(writer)
            elif message.get("op") == "echo":
                writer.write(json.dumps({"re": message["id"], "ok": message["args"][0]}).encode()
                             + b"\n")  # fmt: skip
            elif "sync" in message:
                answers.put_nowait(message)

    with tempfile.TemporaryDirectory(prefix="msa-link-") as folder:
        path = Path(folder) / "board.sock"
        server = await asyncio.start_unix_server(serve, path=str(path))
        board = await asyncio.create_subprocess_exec(
            micropython_path(),
            "-c",
            board_program(handler),
            env={**os.environ, "MICROPYPATH": f"{ROM}:.frozen", "MSA_BOARD_SOCKET": str(path)},
            preexec_fn=children.preexec(),
        )
        try:
            writer = await within(connected, 10)
            for first in range(0, irqs, burst):
                sent = range(first, min(first + burst, irqs))
                irqs_sent = ({"irq": 3, "data": [n, padding], "sync": n} for n in sent)
                writer.write(b"".join(json.dumps(irq).encode() + b"\n" for irq in irqs_sent))
                got = set()
                for n in sent:
                    try:
                        answer = await within(answers.get(), ANSWER_TIMEOUT_S)
                    except TimeoutError:
                        raise AssertionError(f"IRQ {n} of {irqs} was never answered") from None
                    assert answer["ret"] == answer["sync"] + 1
                    got.add(answer["sync"])
                assert got == set(sent)
        finally:
            board.kill()
            await board.wait()
            server.close()


async def test_every_sync_irq_is_answered_while_the_board_works():
    # The drainer that stopped as a reader queued an event: lost until the next message.
    await answered(ANSWERS, IRQS, burst=1)


async def test_a_handler_that_asks_the_host_is_answered_whatever_it_interrupts():
    # A reader scheduled inside another reader's read ran a handler there, whose own
    # call could then read nothing (the read below it held the socket): 10 s stuck.
    await answered(ASKS, IRQS // 8, burst=8, padding=LONG)
