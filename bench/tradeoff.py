"""Connection interval x peripheral latency -> alarm latency and battery life, per
board profile, from the same runs on the timed air.

Each row is one whole chain (firmware, timed air, phone, backend, console) whose
phone asks for that interval and latency once linked: presses of an idle button at
random moments give the p99 press -> console latency; then an idle window whose
connection events the air counts gives, with each profile's figures (bench/battery.py,
docs/power.md), the average current and the battery days at the service heartbeat.

    msa bench tradeoff --json [--intervals 30,125,500] [--latencies 0,2] [--presses 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from bench._args import out_of_bounds
from bench.battery import PROFILES, SERVICE_HEARTBEAT_S, average_current_ua, days_on
from bench.latency import HOLD_MS, PRESS_JITTER_S, percentile
from boards.emulated.emulator import EmulatedBoard
from hwtest.harness import Chain
from msa.app.link import LinkParameters
from msa.errors import UsageError

MAX_ROWS = 40
MIN_TIMEOUT_MS, MAX_TIMEOUT_MS = 4000.0, 32000.0  # the spec's supervision timeout range top


def _numbers(text: str, kind: type) -> list:
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"not a list of numbers: {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--intervals", default="30,125,500", help="connection intervals, ms")
    parser.add_argument("--latencies", default="0,2", help="peripheral latencies, events")
    parser.add_argument("--presses", type=int, default=20, help="per row")
    parser.add_argument("--window", type=float, default=15.0, help="idle seconds per row")
    parser.add_argument("--seed", type=int, default=1, help="of the presses' random moments")


def run(args: argparse.Namespace) -> dict[str, Any]:
    intervals = _numbers(args.intervals, float)
    latencies = _numbers(args.latencies, int)
    error = out_of_bounds(args, (("presses", 1, 1000), ("window", 2, 600)))
    if error is None and not all(7.5 <= i <= 4000 for i in intervals):
        error = {"error": "--intervals must be from 7.5 to 4000 ms"}
    if error is None and not all(0 <= n <= 499 for n in latencies):
        error = {"error": "--latencies must be from 0 to 499"}
    if error is None and not 1 <= len(intervals) * len(latencies) <= MAX_ROWS:
        error = {"error": f"from 1 to {MAX_ROWS} rows (intervals x latencies)"}
    if error is not None:
        return error
    rng = random.Random(args.seed)
    rows = []
    for interval in intervals:
        for latency in latencies:
            with tempfile.TemporaryDirectory(prefix="msa-tradeoff-") as folder:
                row = _row(Path(folder), interval, latency, args.presses, args.window, rng)
                rows.append(asyncio.run(row))
    return {"air": "timed", "presses": args.presses, "window_s": args.window,
            "rows": rows, "profiles": _per_profile(rows)}  # fmt: skip


async def _row(
    folder: Path, interval: float, latency: int, presses: int, window: float, rng: random.Random
) -> dict[str, Any]:
    timeout = min(max(MIN_TIMEOUT_MS, 2.5 * interval * (1 + latency)), MAX_TIMEOUT_MS)
    stack = Chain.fresh(
        folder / "stack", air="timed", parameters=LinkParameters(interval, latency, timeout)
    )
    await stack.start()
    try:
        latencies = []
        for _ in range(presses):
            await stack.settled()
            await asyncio.sleep(rng.uniform(0, PRESS_JITTER_S))
            latencies.append((await stack.press(HOLD_MS)).report()["latency_ms"])
        await stack.settled()
        board = cast(EmulatedBoard, stack.board)  # the stack made it: no board was given
        before, started = board.radio_events(), time.monotonic()
        await asyncio.sleep(window)  # the idle window measured
        after, elapsed = board.radio_events(), time.monotonic() - started
    finally:
        await stack.stop()
    return {
        "connection_interval_ms": interval,
        "peripheral_latency": latency,
        "ran_at": [after.get("connection_interval_ms"), after.get("peripheral_latency")],
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 99) if len(latencies) > 1 else latencies[0], 1),
        "connection_events_per_hour": round(
            (after["connection_events"] - before["connection_events"]) * 3600 / elapsed
        ),
        "events": after.get("events"),
    }


def _per_profile(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    frames = 3600 / SERVICE_HEARTBEAT_S  # one heartbeat frame each
    table: dict[str, list[dict[str, Any]]] = {}
    for p in PROFILES:
        table[p.name] = [
            {
                "connection_interval_ms": row["connection_interval_ms"],
                "peripheral_latency": row["peripheral_latency"],
                "p99_ms": row["p99_ms"],
                "days": round(
                    days_on(
                        p,
                        average_current_ua(
                            p,
                            {
                                "advertising_events": 0,
                                "connection_events": row["connection_events_per_hour"],
                                "frames": frames,
                            },
                        ),
                    ),
                    1,
                ),
            }
            for row in rows
        ]
    return table
