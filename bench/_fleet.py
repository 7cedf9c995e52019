"""A fleet of buttons for the backend benchmarks: seeded devices and phones, the
frames they send, and a heartbeat flood at a fixed rate from its own process.

The flood is open-loop (it sends at the rate it was given, whatever the answers
take) so that a slow backend shows as a lower achieved rate and longer alarm
latency, not as a politely slower client.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any

from msa.backend.auth import hash_token
from msa.backend.keys import Kek
from msa.backend.seed import DEMO_CASE
from msa.backend.store import device_keys, open_store
from msa.backend.store.queries import value_rows
from msa.timefmt import to_iso
from protocol import frame

FIRST_DEVICE = 0x10000000
OPERATOR_TOKEN = "bench-operator-token"
FLOOD_CONNECTIONS = 64
LOCATION = {"lat": 51.0543, "lon": 3.7174, "accuracy_m": 8.0, "fix_at": "2026-11-23T19:02:02.900Z"}


@dataclass
class Fleet:
    """`size` buttons, each with its key, its phone's token and its next counter."""

    size: int
    first_counter: int = 1
    counters: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counters = [self.first_counter] * self.size

    @staticmethod
    def device_id(i: int) -> int:
        return FIRST_DEVICE + i

    @staticmethod
    def key(i: int) -> bytes:
        return (FIRST_DEVICE + i).to_bytes(4, "big") * 8

    @staticmethod
    def token(i: int) -> str:
        return f"bench-phone-{i}"

    def headers(self, i: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(i)}"}

    def next_frame(self, i: int, kind: int) -> bytes:
        counter = self.counters[i]
        self.counters[i] += 1
        now = int(time.time())
        if kind == frame.HEARTBEAT:
            payload = frame.heartbeat_payload(now, 2950, 3600)
        else:
            payload = frame.alarm_payload(now, 2950)
        return frame.sign(self.key(i), kind, self.device_id(i), counter, payload)

    def body(self, i: int, kind: int) -> dict[str, Any]:
        received_at = to_iso(int(time.time() * 1000))
        raw = self.next_frame(i, kind)
        return {"frame": raw.hex(), "received_at": received_at, "location": LOCATION}


SEED_ROWS = 500  # per INSERT


async def seed(database_url: str, fleet: Fleet, kek: Kek) -> None:
    """One case whose person carries every button of the fleet (each with its key,
    wrapped under `kek`, and its phone's token, as provisioning leaves them), and an
    operator. Written in INSERTs of `SEED_ROWS`: a national fleet seeds in seconds."""
    store = await open_store(database_url, kek)
    try:
        await store.migrate()
        person_id = (await store.create_case(DEMO_CASE)).person_ids[0]
        now = int(time.time() * 1000)
        for first in range(0, fleet.size, SEED_ROWS):
            buttons = range(first, min(fleet.size, first + SEED_ROWS))
            devices, keys, phones = [], [], []
            for i in buttons:
                device = fleet.device_id(i)
                wrapped, kek_id = device_keys.wrapped_row(kek, device, fleet.key(i))
                devices += [device, person_id, now]
                keys += [device, wrapped, kek_id, now]
                phones += [hash_token(fleet.token(i)), person_id, device, now]
            n = len(buttons)
            async with store._transaction() as conn:  # noqa: SLF001 (a bench seeds underneath)
                await conn.execute(
                    "INSERT INTO devices (device_id, person_id, status, created_at)"
                    f" VALUES {_rows(n, 3, 'active')}",
                    *devices,
                )
                await conn.execute(
                    "INSERT INTO device_keys (device_id, epoch, mac_key_wrapped, kek_id, status,"
                    f" created_at) VALUES {_rows(n, 4, 'active', epoch=True)}",
                    *keys,
                )
                await conn.execute(
                    "INSERT INTO phones (token_sha256, person_id, device_id, created_at)"
                    f" VALUES {value_rows(n, 4)}",
                    *phones,
                )
                await conn.execute(
                    "INSERT INTO phone_tokens (token_sha256, phone_id, epoch, created_at)"
                    " SELECT token_sha256, id, 0, created_at FROM phones"
                    " WHERE device_id BETWEEN $1 AND $2",
                    fleet.device_id(buttons[0]),
                    fleet.device_id(buttons[-1]),
                )
        await store.add_operator("bench-operator", hash_token(OPERATOR_TOKEN), "cic_operator")
    finally:
        await store.close()


def _rows(n: int, width: int, status: str, epoch: bool = False) -> str:
    """value_rows with the constant epoch 0 after the first column and `status`
    before the last, as the devices' and keys' INSERTs above want them."""
    rows = []
    for row in range(n):
        p = [f"${row * width + c + 1}" for c in range(width)]
        head = [p[0], "0"] if epoch else [p[0]]
        rows.append("(" + ", ".join([*head, *p[1:-1], f"'{status}'", p[-1]]) + ")")
    return ", ".join(rows)


class LoadClient:
    """HTTP/1.1 POSTs over a pool of keep-alive connections, and nothing else.

    A load generator must cost less than what it loads: httpx spends about 3 ms
    of CPU a request, which on two cores would measure httpx, not the backend.
    """

    def __init__(self, url: str, connections: int) -> None:
        host_port = url.removeprefix("http://").rstrip("/")
        self.host, _, port = host_port.partition(":")
        self.port = int(port or 80)
        self.size = connections
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None
        self._opened: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> LoadClient:
        self._idle = asyncio.Queue()
        for _ in range(self.size):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._opened.append(writer)
            self._idle.put_nowait((reader, writer))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for writer in self._opened:
            writer.close()

    async def post(self, path: str, body: bytes, token: str) -> int:
        return (await self.exchange(path, body, token))[0]

    async def exchange(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        """POST `body` to `path`; the answer's status and body."""
        assert self._idle is not None, "use `async with LoadClient(...)`"
        reader, writer = await self._idle.get()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            writer.write(head.encode() + body)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            answer = await reader.readexactly(length)
        except BaseException:
            writer.close()  # a broken exchange: this connection is not reused
            self._opened.remove(writer)
            raise
        self._idle.put_nowait((reader, writer))
        return status, answer


async def post(client: LoadClient, fleet: Fleet, i: int, kind: int) -> int:
    body = json.dumps(fleet.body(i, kind)).encode()
    return await client.post("/api/v1/frames", body, fleet.token(i))


def start_flood(url: str, fleet: Fleet, rate: float, seconds: float) -> Flood:
    flood = Flood(url, fleet, rate, seconds)
    flood.process.start()
    return flood


class Flood:
    """Heartbeats from every button of `fleet` but button 0 (which presses) at
    `rate` per second, for `seconds`, from a separate process; `result()` gives
    what was sent and accepted."""

    def __init__(self, url: str, fleet: Fleet, rate: float, seconds: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._results = context.Queue()
        self.process = context.Process(
            target=_flood_main,
            args=(url, fleet.size, fleet.first_counter, rate, seconds, self._results),
            daemon=True,
        )

    def wait_started(self, timeout: float = 60.0) -> None:
        """Return once the flood is sending."""
        if self._results.get(timeout=timeout) != "started":
            raise RuntimeError("the flood process did not start")

    def result(self, timeout: float = 120.0) -> dict[str, Any]:
        result = self._results.get(timeout=timeout)
        self.process.join(timeout)
        return result


def _flood_main(url: str, size: int, first_counter: int, rate: float, seconds: float, out) -> None:
    out.put(asyncio.run(_flood(url, Fleet(size, first_counter), rate, seconds, out)))


async def _flood(url: str, fleet: Fleet, rate: float, seconds: float, out) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    in_flight: set[asyncio.Task[int]] = set()

    def done(task: asyncio.Task[int]) -> None:
        in_flight.discard(task)
        code = task.result() if not task.exception() else 0
        statuses[code] = statuses.get(code, 0) + 1

    async with LoadClient(url, FLOOD_CONNECTIONS) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        out.put("started")
        while (elapsed := loop.time() - start) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                button = 1 + sent % (fleet.size - 1)  # button 0 is the one that presses
                task = asyncio.create_task(post(client, fleet, button, frame.HEARTBEAT))
                task.add_done_callback(done)
                in_flight.add(task)
                sent += 1
            await asyncio.sleep(0.005)  # pacing the open loop, not synchronisation
        sending_s = loop.time() - start
        if in_flight:
            await asyncio.wait(in_flight)
        total_s = loop.time() - start
    accepted = statuses.get(200, 0)
    return {
        "sent": sent,
        "accepted": accepted,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "offered_per_s": round(sent / sending_s, 1),
        "accepted_per_s": round(accepted / total_s, 1),
    }
