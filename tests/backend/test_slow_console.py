"""A console that stops reading cannot hold the CIC up (push.py, QUEUE_LIMIT):
through HTTP, its stream is ended once 256 pushes wait for it, the console that
reads gets every alarm meanwhile, and the stalled one, reconnecting, is sent
every alarm still open."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import httpx
import pytest

from msa.backend.push import QUEUE_LIMIT
from msa.waiting import within
from tests.backend.test_console import STREAM, console, press
from tests.backend.util import OPERATOR_TOKEN

# Enough alarms to fill all that can buffer them before the backend's queue: the
# server's socket (the kernel grows it up to tcp_wmem's maximum, 4 MB by
# default, for a peer that does not read) and uvicorn's 64 KB; then the 256
# pushes the backend queues, and a margin.
EVENT_BYTES = 2000  # an alarm event with its case is more (checked below)
SOCKET_BYTES = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2]) + 65536
ALARMS = SOCKET_BYTES // EVENT_BYTES + QUEUE_LIMIT + 200
SENDERS = 8


async def stalled_console(url: httpx.URL) -> socket.socket:
    """A console that reads its stream up to `ready` and then stops reading: its
    receive window is kept small, so what it does not read backs up to the server."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (url.host, url.port))
    request = (
        f"GET {STREAM} HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Authorization: Bearer {OPERATOR_TOKEN}\r\nConnection: close\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"event: ready" not in head:
        chunk = await within(loop.sock_recv(sock, 4096), 10)
        assert chunk, f"the stream ended before ready: {head!r}"
        head += chunk
    return sock


async def read_to_the_end(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while chunk := await loop.sock_recv(sock, 65536):
        data += chunk
    return data


@pytest.mark.sqlite_only  # the push is the same on both engines
async def test_a_console_that_stops_reading_is_dropped_and_the_others_get_every_alarm(server):
    async with console(server) as (client, reading):
        assert await reading.until_ready() == []
        stalled = await stalled_console(httpx.URL(server.url))
        try:
            counters = iter(range(1, ALARMS + 1))

            async def sender() -> list[int]:
                return [(await press(client, counter))["alarm_id"] for counter in counters]

            async def reader() -> set[int]:
                got: set[int] = set()
                while len(got) < ALARMS:
                    name, event = await reading.next(timeout_s=60)
                    if name == "alarm":
                        got.add(event["alarm_id"])
                        assert len(json.dumps(event)) > EVENT_BYTES
                return got

            shown = asyncio.create_task(reader())
            sent = await asyncio.gather(*(sender() for _ in range(SENDERS)))
            committed = {alarm_id for ids in sent for alarm_id in ids}
            assert len(committed) == ALARMS
            assert await within(shown, 60) == committed  # the reading console: every one

            # The stalled console's stream was ended by the backend, not left to
            # buffer: reading it now reaches its end, short of the alarms sent.
            data = await within(read_to_the_end(stalled), 30)
            assert 0 < data.count(b"event: alarm\n") < ALARMS
        finally:
            stalled.close()

    # Reconnected, it is sent every alarm still open: nothing was lost to it.
    async with console(server) as (_, again):
        backlog = await again.until_ready()
    assert {alarm["alarm_id"] for alarm in backlog} == committed
