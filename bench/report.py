"""The zones' daily reports for a national fleet. For each engine, one run seeds
`--persons` protected persons in `--zones` managing zones, each with a button and
a phone, and a week behind them: a heartbeat every `--heartbeat-minutes`, a phone
check-in every 3 hours, a Bluetooth-off period a day for one in ten, and an alarm for one person
in a hundred; then makes and stores every zone's report of the last 24 hours
with its mail queued (store.make_report, what the scheduler runs each morning),
and times it. The baseline, timed in the same database, is one plain read of the
same persons with their cases (no frame, check-in or report looked at); `ratio` is
the reports' seconds against the goal of 10 s.

    msa bench report --json [--persons 100000] [--zones 10] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path
from typing import Any

from bench._engines import per_engine
from msa.backend.daily_report import BRUSSELS, Schedule, period
from msa.backend.store import open_store
from msa.backend.store.queries import value_rows

GOAL_S = 10.0
DAYS = 7
ROWS = 500  # per INSERT
SEND_AT = dt.time(7, 0)

# A week of rows for every device, made by the database itself: n(i, at) from
# ($1) the week's start (ms), by ($2) the step (ms), ($3) steps.
SERIES = {
    "sqlite": "WITH RECURSIVE n(i, at) AS (SELECT 0, CAST($1 AS BIGINT)"
    " UNION ALL SELECT i + 1, at + $2 FROM n WHERE i + 1 < $3)",
    "postgresql": "WITH n(i, at) AS (SELECT g, CAST($1 AS BIGINT) + g * CAST($2 AS BIGINT)"
    " FROM generate_series(0, $3 - 1) g)",
}
HEARTBEATS = """
INSERT INTO frames (device_id, counter, type, raw, time_s, battery_mv, uptime_s, phone_id,
    received_at, committed_at, battery_pct, flags)
SELECT d.device_id, n.i + 1, 3, {blob}, n.at / 1000, 3900, n.i * 3600, d.device_id,
    n.at, n.at, 80 - (n.i * 60) / $3, 0
FROM devices d, n"""
CHECK_INS = """
INSERT INTO check_ins (phone_id, checked_in_at, received_at)
SELECT ph.id, n.at, n.at FROM phones ph, n"""
LINK_REPORTS = """
INSERT INTO link_reports (phone_id, off_at, on_at, received_at)
SELECT ph.id, n.at + ph.id % 3600000, n.at + ph.id % 3600000 + 1200000,
    n.at + ph.id % 3600000 + 1200000
FROM phones ph, n WHERE ph.id % 10 = 0"""
BLOB = {"sqlite": "zeroblob(22)", "postgresql": "'\\x" + "00" * 22 + "'::bytea"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--persons", type=int, default=100_000, help="protected persons")
    parser.add_argument("--zones", type=int, default=10, help="managing zones they are in")
    parser.add_argument(
        "--heartbeat-minutes", type=int, default=60, help="a button's heartbeat interval (60)"
    )
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.zones <= args.persons <= 1_000_000:
        raise SystemExit("give 1 <= --zones <= --persons <= 1000000")
    if not 1 <= args.heartbeat_minutes <= 1440:
        raise SystemExit("give --heartbeat-minutes 1 to 1440")
    figures: dict[str, Any] = {"persons": args.persons, "zones": args.zones, "days": DAYS}
    per = per_engine(args.db, "report", lambda url, folder: _measure(url, folder, args))
    for engine, measured in per.items():
        if isinstance(measured, dict):
            measured["ratio"] = round(measured["seconds"] / GOAL_S, 3)
        figures[engine] = measured
    return figures


async def _measure(url: str, _folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    store = await open_store(url)
    try:
        await store.migrate()
        day = dt.datetime.now(BRUSSELS).date()
        span = period(day, SEND_AT)
        started = time.perf_counter()
        rows = await _seed(store, args, span.end)
        seed_s = time.perf_counter() - started

        started = time.perf_counter()
        async with store._reading() as conn:  # noqa: SLF001 (the baseline reads underneath)
            for zone in range(1, args.zones + 1):
                await conn.fetch(
                    "SELECT p.id, p.full_name, c.reference FROM persons p"
                    " JOIN cases c ON c.id = p.case_id WHERE c.managing_zone_id = $1",
                    zone,
                )
        baseline_s = time.perf_counter() - started

        started = time.perf_counter()
        lines = irregular = 0
        for zone in range(1, args.zones + 1):
            schedule = Schedule(zone, f"PZ Bench {zone}", SEND_AT, "ref@bench.example", day, None)
            report_id = await store.make_report(schedule, day, span.end)
            assert report_id is not None
            found = await store.zone_report(report_id)
            assert found is not None
            lines += len(found[1].lines)
            irregular += found[1].irregular
        seconds = time.perf_counter() - started
        assert lines == args.persons, f"{lines} lines for {args.persons} persons"
        return {
            "seconds": round(seconds, 2),
            "baseline_s": round(baseline_s, 3),
            "vs_baseline": round(seconds / baseline_s, 1),
            "irregular": irregular,
            "rows_seeded": rows,
            "seed_s": round(seed_s, 1),
        }
    finally:
        await store.close()


async def _seed(store: Any, args: argparse.Namespace, end: int) -> int:
    week = end - DAYS * 86_400_000
    zones = args.zones
    async with store._transaction() as conn:  # noqa: SLF001 (a bench seeds underneath)
        await conn.execute("INSERT INTO judicial_districts (name) VALUES ('Bench')")
        for zone in range(1, zones + 1):
            await conn.execute(
                "INSERT INTO police_zones (id, name, district_id) VALUES ($1, $2, 1)",
                zone, f"PZ Bench {zone}",
            )  # fmt: skip
    for first in range(0, args.persons, ROWS):
        ids = range(first + 1, min(args.persons, first + ROWS) + 1)
        cases, persons, devices, phones = [], [], [], []
        for i in ids:
            cases += [i, f"BENCH-{i}", "2026-01-01", (i - 1) % zones + 1, 1, week]
            persons += [i, i, f"Person {i}", "+32 470 00 00 00", f"N{i}", i % 10 == 0]
            devices += [i, i, week]
            phones += [i, f"t{i}", i, i, week]
        n = len(ids)
        async with store._transaction() as conn:  # noqa: SLF001
            await conn.execute(
                "INSERT INTO cases (id, reference, decided_on, managing_zone_id, district_id,"
                f" created_at) VALUES {value_rows(n, 6)}",
                *cases,
            )
            await conn.execute(
                "INSERT INTO persons (id, case_id, full_name, phone_number,"
                f" national_register_number, confidential) VALUES {value_rows(n, 6)}",
                *persons,
            )
            await conn.execute(
                f"INSERT INTO devices (device_id, person_id, created_at) VALUES {value_rows(n, 3)}",
                *devices,
            )
            await conn.execute(
                "INSERT INTO phones (id, token_sha256, person_id, device_id, created_at)"
                f" VALUES {value_rows(n, 5)}",
                *phones,
            )
    dialect = store.dialect
    beat_ms = args.heartbeat_minutes * 60_000
    beats = DAYS * 86_400_000 // beat_ms
    series = SERIES[dialect]
    async with store._transaction() as conn:  # noqa: SLF001
        await conn.execute(series + HEARTBEATS.format(blob=BLOB[dialect]), week, beat_ms, beats)
        await conn.execute(series + CHECK_INS, week, 3 * 3_600_000, DAYS * 8)
        await conn.execute(series + LINK_REPORTS, week, 86_400_000, DAYS)
        # One person in a hundred pressed, in the last day.
        await conn.execute(
            "INSERT INTO frames (device_id, counter, type, raw, time_s, battery_mv, phone_id,"
            f" received_at, committed_at, lat, lon) SELECT device_id, 1000000, 1, {BLOB[dialect]},"
            " CAST($1 AS BIGINT) / 1000, 3900, device_id, CAST($1 AS BIGINT),"
            " CAST($1 AS BIGINT), 51.05, 3.72 FROM devices"
            " WHERE device_id % 100 = 0",
            end - 3_600_000,
        )
        await conn.execute(
            "INSERT INTO alarms (frame_id, kind, person_id, case_id, pressed_at)"
            " SELECT f.id, 'alarm', f.device_id, f.device_id, f.committed_at FROM frames f"
            " WHERE f.type = 1"
        )
    persons = args.persons
    return persons * (beats + DAYS * 8) + persons // 10 * DAYS + persons // 100 * 2
