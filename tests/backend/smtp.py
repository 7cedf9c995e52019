"""A real SMTP server in-process (aiosmtpd, in its own thread) that hands each mail
to the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import message_from_bytes
from email.message import Message

from aiosmtpd.controller import Controller

from msa.waiting import within


class Inbox:
    """An aiosmtpd handler: each mail becomes (envelope sender, recipients, message)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.mails: asyncio.Queue[tuple[str, list[str], Message]] = asyncio.Queue()
        self.port = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        mail = message_from_bytes(envelope.content)
        item = (envelope.mail_from, list(envelope.rcpt_tos), mail)
        self.loop.call_soon_threadsafe(self.mails.put_nowait, item)
        return "250 OK"

    async def next(self, timeout_s: float = 10.0) -> tuple[str, list[str], Message]:
        return await within(self.mails.get(), timeout_s)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def mail_server(port: int | None = None) -> AsyncIterator[Inbox]:
    """An SMTP server on 127.0.0.1:`port` (a free one by default) while the block runs."""
    inbox = Inbox()
    inbox.port = port or free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    await asyncio.to_thread(controller.start)
    try:
        yield inbox
    finally:
        await asyncio.to_thread(controller.stop)
