"""Alarm latency (phone's POST -> console push) idle and under a heartbeat flood.

The flood is what 100,000 buttons reporting every minute send: 1,700 heartbeats
a second (`--rate`), open-loop, from a separate process, each from one of
`--devices` buttons in turn (100,000 by default: a national fleet, each with its
own key and phone token, so the backend verifies each heartbeat against a context
it has not seen for a minute, not against 500 cached ones). One button of the
fleet presses `--alarms` times, one alarm at a time, and a console subscribed to
the alarm stream notes when each arrives. The baseline is the same alarms with
no flood, measured first in the same run; the ratio is flood p99 / idle p99
(goal: under 1.5 in five runs out of five, and p99 under 50 ms).

    msa bench flood --json [--alarms 500] [--rate 1700] [--devices 100000] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._fleet import OPERATOR_TOKEN, Fleet, seed, start_flood
from bench.latency import percentile
from msa.backend import pgcluster
from msa.backend.keys import kek_at
from msa.backend.process import BackendProcess
from msa.demo.console_client import ConsoleClient
from msa.errors import UsageError
from msa.waiting import within
from protocol import frame

ALARM_GAP_S = 0.05  # between one alarm's push and the next press
PRESSER = 0  # the fleet's button that presses; the flood never uses it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # 500: a p99 over 100 alarms is the second-worst of them, one stall away from any figure.
    parser.add_argument("--alarms", type=int, default=500, help="alarms per measurement")
    parser.add_argument("--rate", type=float, default=1700.0, help="heartbeats per second")
    parser.add_argument("--devices", type=int, default=100_000, help="buttons in the flood")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not 2 <= args.devices <= 1_000_000:
        raise UsageError("--devices must be between 2 and 1000000")
    if not 1 <= args.alarms <= 100_000 or not 0 < args.rate <= 100_000:
        raise UsageError("--alarms must be in 1..100000 and --rate in (0, 100000]")
    with tempfile.TemporaryDirectory(prefix="msa-bench-") as folder:
        if args.db == "sqlite":
            return asyncio.run(_measure(f"sqlite:///{folder}/flood.db", Path(folder), args))
        with pgcluster.cluster() as pg:
            return asyncio.run(_measure(pg.create_database("flood"), Path(folder), args))


async def _measure(url: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    fleet = Fleet(args.devices)
    kek_file = folder / "kek"
    await seed(url, fleet, kek_at(kek_file))
    backend = BackendProcess(url, folder / "backend.log", kek_file)
    await backend.start()
    console = ConsoleClient(backend.url, OPERATOR_TOKEN)
    try:
        await console.start()
        async with httpx.AsyncClient(base_url=backend.url, timeout=30.0) as client:
            idle = await _alarm_latencies(client, console, fleet, args.alarms)
            # The flood gets its own counters, far above what the presser uses.
            flood_fleet = Fleet(args.devices, first_counter=1_000_000)
            seconds = args.alarms * 0.1 + 5.0
            flood = start_flood(backend.url, flood_fleet, args.rate, seconds)
            await asyncio.to_thread(flood.wait_started)
            under_flood = await _alarm_latencies(client, console, fleet, args.alarms)
            flooded = await asyncio.to_thread(flood.result)
    finally:
        await console.stop()
        await backend.stop()
    idle_p99, flood_p99 = percentile(idle, 99), percentile(under_flood, 99)
    return {
        "database": url.split(":", 1)[0],
        "alarms": args.alarms,
        "devices": args.devices,
        "idle_p50_ms": round(statistics.median(idle), 2),
        "idle_p99_ms": round(idle_p99, 2),
        "flood_p50_ms": round(statistics.median(under_flood), 2),
        "flood_p99_ms": round(flood_p99, 2),
        "ratio": round(flood_p99 / idle_p99, 2),
        "flood_target_per_s": args.rate,
        "flood": flooded,
    }


async def _alarm_latencies(
    client: httpx.AsyncClient, console: ConsoleClient, fleet: Fleet, count: int
) -> list[float]:
    latencies = []
    for _ in range(count):
        pushed = console.next_alarm()
        body = fleet.body(PRESSER, frame.ALARM)
        start = time.perf_counter()
        response = await client.post("/api/v1/frames", json=body, headers=fleet.headers(PRESSER))
        if response.status_code != 200:
            raise RuntimeError(f"an alarm was refused: HTTP {response.status_code} {response.text}")
        await within(pushed, 30.0)
        latencies.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(ALARM_GAP_S)  # pacing between alarms, not synchronisation
    return latencies
