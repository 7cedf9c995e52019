"""Press -> CIC console latency on the emulated board, and the share of each hop.

Each press goes through the whole chain (firmware on MicroPython, Bumble BLE,
the phone's outbox and forwarder, the backend's commit, the console stream).
The baseline, measured in the same run, is the host's part alone: a signed frame
handed straight to the phone (no button, no radio), to the console.

    msa bench latency --json [--presses 200] [--db URL] [--air timed|instant]

On the timed air (the default) the phone asks for the board's provisioned
connection parameters once linked, so the BLE hop waits for a connection event
as on a real link; the instant air is the test suite's, and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._args import add_air, out_of_bounds
from firmware.settings import LIMITS
from hwtest.harness import Chain
from msa.demo.stack import HOPS
from msa.waiting import within
from protocol import frame

HOLD_MS = 80  # longer than the firmware's minimum press (press_ms, 50 ms)
PRESS_JITTER_S = 1.0  # a press falls anywhere within this after the button is idle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=50, help="host-only frames")
    parser.add_argument("--db", metavar="URL", help="database (default: SQLite)")
    parser.add_argument("--seed", type=int, default=1, help="of the presses' random moments")
    add_air(
        parser,
        "connection events at the provisioned parameters",
        "the test suite's air, no radio timing",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    error = out_of_bounds(args, (("presses", 1, 100_000), ("baseline", 1, 10_000)))
    if error is not None:
        return error
    with tempfile.TemporaryDirectory(prefix="msa-bench-") as folder:
        return asyncio.run(_measure(Path(folder), args))


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


async def _measure(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    stack = Chain.fresh(folder / "stack", args.db, air=args.air)
    await stack.start()
    try:
        reports = []
        for _ in range(args.presses):
            # A press of an idle button: the last alarm's ACK and receipt written
            # (on a real link each write takes a few connection events).
            await stack.settled()
            # ...at a moment unrelated to the link's connection events.
            await asyncio.sleep(rng.uniform(0, PRESS_JITTER_S))
            reports.append((await stack.press(HOLD_MS)).report())
        host_only = [await _host_only(stack, 1_000_000 + i) for i in range(args.baseline)]
    finally:
        await stack.stop()
    latencies = [r["latency_ms"] for r in reports]
    steps = {hop: [] for hop in HOPS[1:]}  # each hop's own time, from the hop before
    for r in reports:
        for before, hop in zip(HOPS, HOPS[1:], strict=False):
            steps[hop].append(r["hops_ms"][hop] - r["hops_ms"][before])
    p50 = statistics.median(latencies)
    hops_p50 = {hop: round(statistics.median(v), 3) for hop, v in steps.items()}
    baseline_p50 = statistics.median(host_only)
    return {
        "n": len(latencies),
        "air": args.air,
        "p50_ms": round(p50, 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(max(latencies), 3),
        "hops_p50_ms": hops_p50,
        "hops_p99_ms": {hop: round(percentile(v, 99), 3) for hop, v in steps.items()},
        "hops_share": {hop: round(v / p50, 3) for hop, v in hops_p50.items()},
        # A press counts once held press_ms (debounced over debounce_ms): the
        # floor of press -> notify, by design (docs/decisions.md).
        "debounce_ms": LIMITS["debounce_ms"][0],
        "press_ms": LIMITS["press_ms"][0],
        "baseline_host_only_p50_ms": round(baseline_p50, 3),
        "ratio": round(p50 / baseline_p50, 2),
        "database": stack.database_url.split(":", 1)[0],
    }


async def _host_only(stack: Chain, counter: int) -> float:
    """A signed frame handed to the phone directly: the host's share of the path."""
    assert stack.phone is not None and stack.console is not None
    device_id = int(stack.credentials["device_id"], 16)
    data = frame.sign(
        bytes.fromhex(stack.credentials["key"]),
        frame.ALARM,
        device_id,
        counter,
        frame.alarm_payload(int(time.time()), 3000),
    )
    seen = stack.console.next_alarm()
    start = time.time()
    stack.phone.store(data, start)
    await within(seen, 30)
    reached = stack.console.alarms[-1]
    assert reached["counter"] == counter
    return (time.time() - start) * 1000
