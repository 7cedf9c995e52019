"""The phone's HCI over TCP for `msa board run --hci-port`: one phone at a time, as
Bumble's TCP server transport serves it, except that a phone that goes away is
forgotten only while it is the one connected. Bumble's clears whatever link is
current when a connection closes, so a phone that reconnects at once (`msa app
pair`, then `msa app run`) can lose its link to the earlier one's late close, and
its HCI Reset goes unanswered. Each new phone also gets a fresh packet parser: a
half packet the earlier one left is not read as the start of the new one's."""

from __future__ import annotations

import asyncio
import logging
import socket

from bumble.transport.common import PacketParser, StreamPacketSource, Transport

log = logging.getLogger(__name__)


class PhoneLink:
    """The sink the board's controller writes to: the phone connected now."""

    def __init__(self) -> None:
        self.current: asyncio.Transport | None = None

    def on_packet(self, packet: bytes) -> None:
        if self.current is not None and not self.current.is_closing():
            self.current.write(packet)

    def close(self) -> None:
        if self.current is not None:
            self.current.close()


class _PhoneConnection(asyncio.Protocol):
    def __init__(self, source: StreamPacketSource, link: PhoneLink) -> None:
        self.source = source
        self.link = link
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.link.current is not None:
            self.link.current.close()  # one phone at a time: the newest
        self.transport = transport
        self.link.current = transport
        parser = PacketParser()  # fresh framing for the new phone
        if self.source.sink is not None:
            parser.set_packet_sink(self.source.sink)
        self.source.parser = parser

    def data_received(self, data: bytes) -> None:
        if self.transport is self.link.current:
            self.source.data_received(data)

    def connection_lost(self, error: Exception | None) -> None:
        log.debug("a phone's HCI connection closed: %s", error)
        if self.link.current is self.transport:
            self.link.current = None


class HciServer(Transport):
    def __init__(self, source: StreamPacketSource, link: PhoneLink, server: asyncio.Server) -> None:
        super().__init__(source, link)
        self.server = server

    async def close(self) -> None:
        self.server.close()
        await super().close()


async def serve_hci(sock: socket.socket) -> HciServer:
    """The phone's HCI on the bound TCP socket `sock`."""
    source = StreamPacketSource()
    link = PhoneLink()
    server = await asyncio.get_running_loop().create_server(
        lambda: _PhoneConnection(source, link), sock=sock
    )
    return HciServer(source, link, server)
