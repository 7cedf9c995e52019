"""A backend node killed under load: alarms lost, doubled, and how long they waited.

Two nodes of `msa backend serve` on one PostgreSQL, a heartbeat flood on each
(`--flood-rate` a second, open-loop, from its own process), `--phones` phones of
the 112 app each knowing both nodes (half talk to each first) and sending a frame
every 0.25 s, every third an alarm, and a console on each node. After `--before`
seconds node 0 is SIGKILLed (with its flood: its phones' node is gone); the phones
go on for `--after` seconds, then every outbox must empty. Each alarm's delay is
from its press (the frame put in the phone's outbox) to the first console that
shows it. `max_delay_ms` is the longest of the alarms pressed in the `--window`
seconds from the kill; `p99_ms` is over the others; `lost` are alarms acknowledged
to a phone that no console showed, `duplicates` alarms committed or shown twice.
The baseline, in the same run, is the p99 before the kill (`ratio`: the
failover's longest against it).

    msa bench failover --json [--phones 6] [--flood-rate 300] [--before 15] [--after 20]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._fleet import Fleet, seed, start_flood
from bench._nodes import FRAME_EVERY_S, Nodes
from bench.latency import percentile
from msa.backend import pgcluster
from msa.backend.keys import kek_at
from msa.backend.store import open_store
from msa.errors import NotAvailable, UsageError

FLOOD_BUTTONS = 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phones", type=int, default=6, help="phones sending alarms")
    parser.add_argument("--flood-rate", type=float, default=300.0, help="heartbeats/s per node")
    parser.add_argument("--before", type=float, default=15.0, help="seconds before the kill")
    parser.add_argument("--after", type=float, default=20.0, help="seconds after it")
    parser.add_argument("--window", type=float, default=10.0, help="the failover's seconds")


def run(args: argparse.Namespace) -> dict[str, Any]:
    for name in ("phones", "flood_rate", "before", "after", "window"):
        if not 0 < getattr(args, name) <= 10_000:
            raise UsageError(f"--{name.replace('_', '-')} must be in (0, 10000]")
    with tempfile.TemporaryDirectory(prefix="msa-bench-") as folder:
        try:
            with pgcluster.cluster() as pg:
                return asyncio.run(_measure(pg.create_database("failover"), Path(folder), args))
        except NotAvailable as error:
            return {"postgres": f"not measured: {error}"}


async def _measure(url: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    fleet = Fleet(FLOOD_BUTTONS + args.phones)
    kek_file = folder / "kek"
    await seed(url, fleet, kek_at(kek_file))
    nodes = Nodes(url, folder, kek_file)
    urls = await nodes.start(fleet, range(FLOOD_BUTTONS, FLOOD_BUTTONS + args.phones))
    pressed: dict[tuple[int, int], float] = {}  # (device, counter) -> when
    shown: dict[tuple[int, int], float] = {}  # -> when a console first showed it

    def on_alarm(event: dict[str, Any], at: float) -> None:
        key = (int(event["device_id"], 16), event["counter"])
        shown.setdefault(key, at)

    for console in nodes.consoles:
        console.on_alarm = on_alarm
    seconds = args.before + args.after + 10
    floods = [
        start_flood(u, Fleet(FLOOD_BUTTONS, (n + 1) * 1_000_000), args.flood_rate, seconds)
        for n, u in enumerate(urls)
    ]
    try:
        for flood in floods:
            await asyncio.to_thread(flood.wait_started)
        await _press(nodes, pressed, args.before)
        killed_at = time.time()
        await nodes.nodes[0].kill()
        floods[0].process.kill()
        await _press(nodes, pressed, args.after)
        await nodes.until_outboxes_empty()
        await nodes.until_every_console_shows_every_alarm()
        repeated = sum(console.repeated for console in nodes.consoles)
    finally:
        for flood in floods:
            flood.process.kill()
        await nodes.close()
    store = await open_store(url)
    try:
        committed = (await store.counts())["alarms"]
    finally:
        await store.close()

    before = [shown[k] - t for k, t in pressed.items() if k in shown and t < killed_at]
    during = [
        shown[k] - t for k, t in pressed.items() if k in shown and 0 <= t - killed_at < args.window
    ]
    outside = [
        shown[k] - t for k, t in pressed.items() if k in shown and t - killed_at >= args.window
    ]
    baseline_ms = percentile(before, 99) * 1000
    max_delay_ms = max(during, default=0.0) * 1000
    return {
        "database": "postgresql",
        "nodes": len(urls),
        "alarms": len(pressed),
        "acknowledged": len(nodes.acknowledged()),
        "lost": len(pressed) - len(pressed.keys() & shown.keys()),
        "duplicates": committed - len(pressed) + repeated,
        "max_delay_ms": round(max_delay_ms, 1),
        "p99_ms": round(percentile(before + outside, 99) * 1000, 1),
        "before_kill_p99_ms": round(baseline_ms, 1),
        "ratio": round(max_delay_ms / baseline_ms, 1) if baseline_ms else None,
        "flood_per_s_per_node": args.flood_rate,
        "consoles_reconnected": sum(console.connections - 1 for console in nodes.consoles),
    }


async def _press(nodes: Nodes, pressed: dict[tuple[int, int], float], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for phone in nodes.phones:
            alarm = phone.press_or_beat()
            if alarm is not None:
                pressed[alarm] = time.time()
        await asyncio.sleep(FRAME_EVERY_S)  # the phones' pace, not synchronisation
