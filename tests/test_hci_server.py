"""The emulated board's HCI server for a phone over TCP (boards/emulated/hci_server.py):
a phone that reconnects at once keeps its link when the earlier connection's close
arrives late, and a half packet left by the earlier one does not garble the next."""

from __future__ import annotations

import asyncio
import socket

from boards.emulated.hci_server import serve_hci
from msa.waiting import wait_until, within

RESET = bytes([0x01, 0x03, 0x0C, 0x00])  # HCI command packet: Reset
RESET_DONE = bytes([0x04, 0x0E, 0x04, 0x01, 0x03, 0x0C, 0x00])  # its Command Complete


class Controller:
    """What the board's controller would get from the phone."""

    def __init__(self) -> None:
        self.packets: asyncio.Queue[bytes] = asyncio.Queue()

    def on_packet(self, packet: bytes) -> None:
        self.packets.put_nowait(bytes(packet))


async def test_a_phone_that_reconnects_at_once_keeps_its_link():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await serve_hci(sock)
    controller = Controller()
    server.source.set_packet_sink(controller)
    port = sock.getsockname()[1]
    try:
        _, first = await asyncio.open_connection("127.0.0.1", port)
        await wait_until(lambda: server.sink.current is not None, 2, "the first phone taken")
        earlier = server.sink.current
        first.write(RESET[:2])  # the earlier phone leaves half a packet
        await first.drain()
        second_reader, second = await asyncio.open_connection("127.0.0.1", port)
        await wait_until(lambda: server.sink.current not in (None, earlier), 2, "the second")
        first.close()  # the earlier phone's close, arriving after the new one
        await first.wait_closed()

        second.write(RESET)
        assert await within(controller.packets.get(), 2) == RESET  # whole, not garbled
        server.sink.on_packet(RESET_DONE)  # the controller answers: to the phone now
        assert await within(second_reader.readexactly(len(RESET_DONE)), 2) == RESET_DONE
        second.close()
    finally:
        await server.close()
