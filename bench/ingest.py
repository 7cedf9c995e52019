"""Heartbeat ingestion rate over HTTP, against the raw insert rate of the same database.

For each engine (SQLite, and PostgreSQL where its binaries are installed), one
run seeds a fleet of buttons, then measures in the same database:

- raw: one plain INSERT of a frame row per statement (autocommit, so each is
  its own durable commit), through the store's own connection (same driver,
  same pragmas), in this process: no HTTP, no token, no MAC, no duplicate
  check: what the database alone allows;
- raw_grouped: the same rows in multi-row INSERTs of up to 32, as the backend's
  group commit writes them when heartbeats arrive together (store/group_commit.py);
- http: signed heartbeats POSTed to `msa backend serve` (a child process) by
  `--clients` concurrent phones: parsing, token, MAC, commit, answer.

The ratio http / raw is the share of the database's rate the backend delivers
(goal: at least 0.5); http / raw_grouped says how far the backend's own work per
request stays from what the database could take when it commits in groups.

    msa bench ingest --json [--frames 3000] [--clients 16] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench._engines import per_engine
from bench._fleet import Fleet, LoadClient, post, seed
from msa.backend.admission import ROUTINE_LIMIT
from msa.backend.auth import hash_token
from msa.backend.keys import Kek, kek_at
from msa.backend.process import BackendProcess
from msa.backend.store import open_store
from msa.backend.store.group_commit import MAX_GROUP
from msa.backend.store.queries import value_rows
from protocol import frame

FLEET = 200
RAW_INSERT = (
    "INSERT INTO frames (device_id, counter, type, raw, time_s, battery_mv, uptime_s,"
    " phone_id, received_at, committed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=3000, help="heartbeats per measurement")
    parser.add_argument(
        "--clients",
        type=int,
        default=ROUTINE_LIMIT,
        help="concurrent phones (default: the backend's routine frames in flight; more get 503)",
    )
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"frames": args.frames, "clients": args.clients}
    return {**figures, **per_engine(args.db, "ingest", lambda u, f: _measure(u, f, args))}


async def _measure(url: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    fleet = Fleet(FLEET)
    kek_file = folder / "kek"
    await seed(url, fleet, kek_at(kek_file))
    raw, grouped = await _raw_rates(url, fleet, args.frames, args.clients, kek_at(kek_file))
    backend = BackendProcess(url, folder / "backend.log", kek_file)
    await backend.start()
    try:
        http = await _http_rate(backend.url, fleet, args.frames, args.clients)
    finally:
        await backend.stop()
    return {
        "raw_per_s": round(raw, 1),
        "raw_grouped_per_s": round(grouped, 1),
        "http_per_s": round(http, 1),
        "ratio": round(http / raw, 3),
        "ratio_to_grouped": round(http / grouped, 3),
    }


async def _raw_rates(
    url: str, fleet: Fleet, frames: int, clients: int, kek: Kek
) -> tuple[float, float]:
    """Rows per second, one INSERT each and in groups of MAX_GROUP (fresh rows each time)."""
    store = await open_store(url, kek)
    try:
        phone_ids = []
        for i in range(fleet.size):
            context = await store.ingest_context(hash_token(fleet.token(i)), fleet.device_id(i))
            assert context is not None, "the fleet was not seeded"
            phone_ids.append(context.phone_id)

        async def rate(statements: list[tuple[str, list[object]]], rows: int) -> float:
            async def insert(n: int) -> None:
                async with store._connection() as conn:  # noqa: SLF001 (the bench's baseline)
                    await conn.execute(statements[n][0], *statements[n][1])

            start = time.perf_counter()
            await _in_parallel(clients, len(statements), insert)
            return rows / (time.perf_counter() - start)

        rows = [_row(fleet, n % fleet.size, phone_ids) for n in range(frames)]
        single = await rate([(RAW_INSERT, list(row)) for row in rows], frames)
        rows = [_row(fleet, n % fleet.size, phone_ids) for n in range(frames)]
        groups = [rows[n : n + MAX_GROUP] for n in range(0, frames, MAX_GROUP)]
        grouped = await rate(
            [(_raw_group_insert(len(g)), [v for row in g for v in row]) for g in groups], frames
        )
        return single, grouped
    finally:
        await store.close()


def _raw_group_insert(rows: int) -> str:
    columns, _, _ = RAW_INSERT.partition(" VALUES ")
    return f"{columns} VALUES {value_rows(rows, RAW_INSERT.count('$'))}"


def _row(fleet: Fleet, i: int, phone_ids: list[int]) -> tuple[object, ...]:
    raw = fleet.next_frame(i, frame.HEARTBEAT)
    parsed = frame.parse(raw)
    fields = parsed.fields()
    now_ms = int(time.time() * 1000)
    return (
        parsed.device_id,
        parsed.counter,
        parsed.type,
        raw,
        fields["time_s"],
        fields["battery_mv"],
        fields["uptime_s"],
        phone_ids[i],
        now_ms,
        now_ms,
    )


async def _http_rate(url: str, fleet: Fleet, frames: int, clients: int) -> float:
    async with LoadClient(url, clients) as client:
        start = time.perf_counter()
        statuses = await _in_parallel(
            clients, frames, lambda n: post(client, fleet, n % fleet.size, frame.HEARTBEAT)
        )
        elapsed = time.perf_counter() - start
    refused = [s for s in statuses if s != 200]
    if refused:
        raise RuntimeError(f"{len(refused)} heartbeats refused (e.g. HTTP {refused[0]})")
    return frames / elapsed


async def _in_parallel(workers: int, total: int, job) -> list[Any]:
    results: list[Any] = [None] * total
    next_job = iter(range(total))

    async def worker() -> None:
        for n in next_job:
            results[n] = await job(n)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return results
