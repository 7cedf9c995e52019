"""`msa backend report-schedule` and `msa backend zone-report`: when a managing
zone gets its daily report and where it is mailed, and a zone's report printed
(docs/daily-report.md).

    msa backend report-schedule --zone "PZ Gent" --at 07:00 --email ref@pz.example
    msa backend zone-report --zone "PZ Gent" [--day 2026-11-26] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import asdict
from typing import Any

from msa.backend.daily_report import BRUSSELS, parse_send_at, period
from msa.backend.store import Store
from msa.cliargs import add_db, email, print_result
from msa.errors import UsageError
from msa.timefmt import now_ms


def register(actions: Any) -> None:
    schedule = actions.add_parser(
        "report-schedule", help="when a managing zone gets its daily report, and where"
    )
    schedule.add_argument("--zone", required=True, metavar="NAME", help="the police zone")
    schedule.add_argument(
        "--at", required=True, type=_time, metavar="HH:MM", help="local time (Europe/Brussels)"
    )
    schedule.add_argument("--email", required=True, type=email, help="the zone's mailbox")
    add_db(schedule)
    schedule.add_argument("--json", action="store_true", help="print JSON")
    report = actions.add_parser("zone-report", help="a zone's daily report, printed (not mailed)")
    report.add_argument("--zone", required=True, metavar="NAME", help="the police zone")
    report.add_argument("--day", type=_day, help="the report's day (default: today, local time)")
    report.add_argument(
        "--at", type=_time, default="07:00", metavar="HH:MM", help="its time (07:00)"
    )
    add_db(report)
    report.add_argument("--json", action="store_true", help="print JSON")


def _time(text: str) -> str:
    try:
        parse_send_at(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _day(text: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day: write YYYY-MM-DD") from None
    if not dt.date(2020, 1, 1) <= day <= dt.date(2100, 1, 1):
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (2020 to 2100)")
    return day


def _today() -> dt.date:
    return dt.datetime.fromtimestamp(now_ms() / 1000, BRUSSELS).date()


async def _report_schedule(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    since = _today().isoformat()
    if not await store.set_report_schedule(args.zone, args.at, args.email, since):
        raise UsageError(f"no police zone {args.zone!r}: see `msa backend zones`")
    result = {"zone": args.zone, "at": args.at, "email": args.email}
    return print_result(
        args, result, [f"{args.zone}: its daily report at {args.at} (Brussels) to {args.email}"]
    )


async def _zone_report(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    zone_id = await store.zone_id(args.zone)
    if zone_id is None:
        raise UsageError(f"no police zone {args.zone!r}: see `msa backend zones`")
    span = period(args.day or _today(), parse_send_at(args.at))
    report = await store.build_report(zone_id, args.zone, span)
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False))
        return 0
    print(report.mail()[1])
    return 0


ACTIONS = {"report-schedule": _report_schedule, "zone-report": _zone_report}
