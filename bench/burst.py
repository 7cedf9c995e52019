"""Alarm bursts: does every alarm reach every console live, and how fast?

Several phones (`--senders`, one button each) post `--alarms` alarms between them,
back to back, all at once, while `--consoles` consoles listen to the alarm stream.
The backend drops a console that falls behind (push.py); a console here reads
promptly and never reconnects, so an alarm it misses is one it did not get live.
Per engine: the consoles dropped, the deliveries that arrived live (`event: alarm`
after `ready`), the push latency (the phone's POST sent -> the event read by a
console, and the backend's commit -> read), and how long after the last push the
audit trail held every delivery. The baseline, measured first in the same run: as
many alarms one at a time (each read by every console before the next is sent);
the ratio is burst p99 / baseline p99. With `--heartbeats RATE`, a third phase
runs one sender back to back beside a heartbeat flood at RATE a second.

    msa bench burst --json [--alarms 500] [--senders 4] [--consoles 2]
                           [--heartbeats 0] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from bench._engines import per_engine
from bench._fleet import OPERATOR_TOKEN, Fleet, LoadClient, seed, start_flood
from bench.latency import percentile
from msa.backend.keys import kek_at
from msa.backend.process import BackendProcess
from msa.backend.store import open_store
from msa.timefmt import parse_iso
from msa.waiting import cancelled
from protocol import frame

FLEET = 500  # buttons: the senders' first, the flood's the rest
DELIVERY_TIMEOUT_S = 60.0  # a hang detector: a missing alarm is reported, never waited for
AUDIT_TIMEOUT_S = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alarms", type=int, default=500, help="alarms per burst")
    parser.add_argument("--senders", type=int, default=4, help="phones sending at once")
    parser.add_argument("--consoles", type=int, default=2, help="consoles listening")
    parser.add_argument(
        "--heartbeats", type=float, default=0.0, help="heartbeats/s beside one sender (0: none)"
    )
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "alarms": args.alarms,
        "senders": args.senders,
        "consoles": args.consoles,
    }
    return {**figures, **per_engine(args.db, "burst", lambda u, f: _measure(u, f, args))}


class LiveConsole:
    """One console on the alarm stream: when each alarm arrived live, and whether
    the backend dropped it."""

    def __init__(self, url: str) -> None:
        self._url = url.rstrip("/") + "/api/v1/console/stream"
        self.read_at: dict[int, float] = {}  # alarm id -> epoch s, live events only
        self.committed_at: dict[int, float] = {}
        self.dropped = False
        self._ready = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())
        async with asyncio.timeout(30):
            await self._ready.wait()

    async def _listen(self) -> None:
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        timeout = httpx.Timeout(10.0, read=None)
        try:
            async with (
                httpx.AsyncClient(timeout=timeout) as client,
                client.stream("GET", self._url, headers=headers) as response,
            ):
                response.raise_for_status()
                name = ""
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:") and name == "alarm" and self._ready.is_set():
                        self._note(json.loads(line[5:]))
                    elif line.startswith("data:") and name == "ready":
                        self._ready.set()
        except (httpx.HTTPError, OSError):
            pass
        self.dropped = True  # the stream ended while we listened
        self._progress.set()

    def _note(self, event: dict[str, Any]) -> None:
        at = time.time()
        alarm_id = event["alarm_id"]
        self.read_at.setdefault(alarm_id, at)
        if event.get("committed_at"):
            self.committed_at.setdefault(alarm_id, parse_iso(event["committed_at"]) / 1000)
        self._progress.set()

    async def wait_for(self, ids: set[int], timeout_s: float) -> None:
        """Until every alarm of `ids` arrived, the stream ended, or the timeout."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not ids <= self.read_at.keys() and not self.dropped:
                    self._progress.clear()
                    await self._progress.wait()

    async def stop(self) -> None:
        if self._task is not None:
            await cancelled(self._task)


async def _measure(url: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    fleet = Fleet(FLEET)
    kek_file = folder / "kek"
    await seed(url, fleet, kek_at(kek_file))
    backend = BackendProcess(url, folder / f"backend-{url.split(':', 1)[0]}.log", kek_file)
    await backend.start()
    try:
        async with _consoles(backend.url, args.consoles) as consoles:
            idle = await _one_at_a_time(backend.url, fleet, consoles, args.alarms)
            burst = await _burst(backend.url, fleet, consoles, args.alarms, args.senders)
            figures = {
                "idle_p50_ms": _ms(idle, 50),
                "idle_p99_ms": _ms(idle, 99),
                **burst,
                "ratio": _ratio(burst["burst_p99_ms"], _ms(idle, 99)),
                "burst_dropped_consoles": sum(console.dropped for console in consoles),
                "audit_complete_after_ms": await _audit_lag(url, consoles),
            }
        if args.heartbeats > 0:
            async with _consoles(backend.url, args.consoles) as consoles:
                figures.update(await _beside_heartbeats(backend.url, fleet, consoles, args))
                figures["heartbeats_dropped_consoles"] = sum(c.dropped for c in consoles)
    finally:
        await backend.stop()
    return figures


@contextlib.asynccontextmanager
async def _consoles(url: str, count: int) -> AsyncIterator[list[LiveConsole]]:
    consoles = [LiveConsole(url) for _ in range(count)]
    try:
        for console in consoles:
            await console.start()
        yield consoles
    finally:
        for console in consoles:
            await console.stop()


async def _one_at_a_time(
    url: str, fleet: Fleet, consoles: list[LiveConsole], count: int
) -> list[float]:
    latencies = []
    async with LoadClient(url, 1) as client:
        for _ in range(count):
            sent_at, alarm_id = await _send(client, fleet, 0)
            for console in consoles:
                await console.wait_for({alarm_id}, DELIVERY_TIMEOUT_S)
            latencies += [_latency(console, alarm_id, sent_at) for console in consoles]
    return [value for value in latencies if value is not None]


async def _burst(
    url: str, fleet: Fleet, consoles: list[LiveConsole], count: int, senders: int
) -> dict[str, Any]:
    sent: dict[int, float] = {}

    async def sender(i: int, alarms: int) -> None:
        async with LoadClient(url, 1) as client:
            for _ in range(alarms):
                sent_at, alarm_id = await _send(client, fleet, i)
                sent[alarm_id] = sent_at

    started = time.perf_counter()
    await asyncio.gather(
        *(sender(i, count // senders + (i < count % senders)) for i in range(senders))
    )
    sending_s = time.perf_counter() - started
    for console in consoles:
        await console.wait_for(set(sent), DELIVERY_TIMEOUT_S)
    latencies, push = [], []
    for console in consoles:
        for alarm_id, sent_at in sent.items():
            value = _latency(console, alarm_id, sent_at)
            if value is not None:
                latencies.append(value)
                push.append((console.read_at[alarm_id] - console.committed_at[alarm_id]) * 1000)
    return {
        "burst_sent_per_s": round(len(sent) / sending_s, 1),
        "burst_p50_ms": _ms(latencies, 50),
        "burst_p99_ms": _ms(latencies, 99),
        "burst_commit_to_console_p50_ms": _ms(push, 50),
        "burst_commit_to_console_p99_ms": _ms(push, 99),
        "burst_live_deliveries": len(latencies),
        "burst_expected_deliveries": len(sent) * len(consoles),
    }


async def _beside_heartbeats(
    url: str, fleet: Fleet, consoles: list[LiveConsole], args: argparse.Namespace
) -> dict[str, Any]:
    flood_fleet = Fleet(FLEET, first_counter=1_000_000)
    flood = start_flood(url, flood_fleet, args.heartbeats, args.alarms * 0.02 + 10.0)
    await asyncio.to_thread(flood.wait_started)
    sent: dict[int, float] = {}
    async with LoadClient(url, 1) as client:
        for _ in range(args.alarms):
            sent_at, alarm_id = await _send(client, fleet, 0)
            sent[alarm_id] = sent_at
    for console in consoles:
        await console.wait_for(set(sent), DELIVERY_TIMEOUT_S)
    flooded = await asyncio.to_thread(flood.result)
    latencies = [
        value
        for console in consoles
        for alarm_id, sent_at in sent.items()
        if (value := _latency(console, alarm_id, sent_at)) is not None
    ]
    return {
        "heartbeats_p50_ms": _ms(latencies, 50),
        "heartbeats_p99_ms": _ms(latencies, 99),
        "heartbeats_live_deliveries": len(latencies),
        "heartbeats_expected_deliveries": len(sent) * len(consoles),
        "heartbeats_accepted_per_s": flooded["accepted_per_s"],
    }


async def _send(client: LoadClient, fleet: Fleet, i: int) -> tuple[float, int]:
    body = json.dumps(fleet.body(i, frame.ALARM)).encode()
    sent_at = time.time()
    status, answer = await client.exchange("/api/v1/frames", body, fleet.token(i))
    if status != 200:
        raise RuntimeError(f"an alarm was refused: HTTP {status} {answer[:200]!r}")
    return sent_at, int(json.loads(answer)["alarm_id"])


def _latency(console: LiveConsole, alarm_id: int, sent_at: float) -> float | None:
    read_at = console.read_at.get(alarm_id)
    return None if read_at is None else (read_at - sent_at) * 1000


def _ms(values: list[float], p: int) -> float | None:
    if len(values) < 2:
        return None
    return round(statistics.median(values) if p == 50 else percentile(values, p), 2)


def _ratio(burst: float | None, idle: float | None) -> float | None:
    return None if burst is None or not idle else round(burst / idle, 2)


async def _audit_lag(url: str, consoles: list[LiveConsole]) -> float | None:
    """Milliseconds from the last live push read until the audit trail held every
    delivery (one `alarm.push` per alarm and console); None if it never did."""
    expected = sum(len(console.read_at) for console in consoles)
    last_read = max((max(c.read_at.values(), default=0.0) for c in consoles), default=0.0)
    store = await open_store(url)
    try:
        async with asyncio.timeout(AUDIT_TIMEOUT_S):
            while (await store.counts())["audit"] < expected:
                await asyncio.sleep(0.02)  # polling another process's writes
    except TimeoutError:
        return None
    finally:
        await store.close()
    return round(max(0.0, time.time() - last_read) * 1000, 1)
