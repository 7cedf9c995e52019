"""A real SMTP server in-process (aiosmtpd, in its own thread) that hands each mail
to the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable
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


class Port:
    """A local port held by a bound socket that does not listen yet: a connection to
    it is refused (a mail server that is down) and no other process can take it
    meanwhile, as it could a port probed free and bound later. `mail_server` listens
    on it."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.number: int = self.socket.getsockname()[1]

    def __str__(self) -> str:
        return str(self.number)


class _OnPort(Controller):
    """aiosmtpd's Controller on a socket already bound (aiosmtpd binds its own)."""

    def __init__(self, handler: Inbox, port: Port) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=port.number)
        self._socket = port.socket

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self._socket)


@asynccontextmanager
async def mail_server(port: Port | None = None) -> AsyncIterator[Inbox]:
    """An SMTP server on `port` (a new one by default) while the block runs; the
    port is closed after it."""
    inbox = Inbox()
    port = port or Port()
    inbox.port = port.number
    controller = _OnPort(inbox, port)
    await asyncio.to_thread(controller.start)
    try:
        yield inbox
    finally:
        await asyncio.to_thread(controller.stop)
        port.socket.close()
