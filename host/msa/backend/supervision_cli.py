"""`msa backend case-supervision` and `msa backend supervision`: a case's grace and
whether the CIC sees its events, and the events open or not acknowledged
(docs/supervision.md).

    msa backend case-supervision REF [--grace-minutes N] [--cic-watch yes|no] [--json]
    msa backend supervision [--zone NAME] [--json]
"""

from __future__ import annotations

import argparse
from typing import Any

from msa.backend.store import Store
from msa.cliargs import add_db, print_result
from msa.errors import UsageError

MAX_GRACE_MINUTES = 24 * 60  # the database's bound: a day


def register(actions: Any) -> None:
    case = actions.add_parser(
        "case-supervision", help="a case's supervision: its grace, and whether the CIC sees it"
    )
    case.add_argument("reference", help="the case's reference")
    case.add_argument(
        "--grace-minutes",
        type=_grace,
        help=f"how late a button or phone may be before it is an event (0 to {MAX_GRACE_MINUTES})",
    )
    case.add_argument(
        "--cic-watch",
        choices=("yes", "no"),
        help="show the case's supervision events on the CIC console too",
    )
    add_db(case)
    case.add_argument("--json", action="store_true", help="print JSON")
    listed = actions.add_parser(
        "supervision", help="the supervision events open or not acknowledged, newest first"
    )
    listed.add_argument("--zone", metavar="NAME", help="one police zone's only")
    add_db(listed)
    listed.add_argument("--json", action="store_true", help="print JSON")


def _grace(text: str) -> int:
    try:
        minutes = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of minutes") from None
    if not 0 <= minutes <= MAX_GRACE_MINUTES:
        raise argparse.ArgumentTypeError(f"give 0 to {MAX_GRACE_MINUTES} minutes, not {minutes}")
    return minutes


async def _case_supervision(store: Store, args: argparse.Namespace) -> int:
    if args.grace_minutes is None and args.cic_watch is None:
        raise UsageError("give --grace-minutes and/or --cic-watch: nothing to change")
    await store.migrate()
    grace_s = None if args.grace_minutes is None else args.grace_minutes * 60
    watch = None if args.cic_watch is None else args.cic_watch == "yes"
    if not await store.set_case_supervision(args.reference, grace_s, watch):
        raise UsageError(f"no case {args.reference!r}: see `msa backend case-add`")
    result = {"case": args.reference, "grace_minutes": args.grace_minutes, "cic_watch": watch}
    changed = [f"{k} {v}" for k, v in result.items() if k != "case" and v is not None]
    return print_result(args, result, [f"case {args.reference}: " + ", ".join(changed)])


async def _supervision(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    zone_id = None
    if args.zone is not None:
        zone_id = await store.zone_id(args.zone)
        if zone_id is None:
            raise UsageError(f"no police zone {args.zone!r}: see `msa backend zones`")
    events = [event.row() for event in await store.supervision_events(zone_id=zone_id)]
    lines = [
        f"{e['id']:>6} {e['kind']:<16} {e['case']:<20} since {e['since']}"
        f"{'  ended' if e['ended_at'] else ''}{'  acknowledged' if e['acknowledged_at'] else ''}"
        for e in events
    ] or ["nothing to follow up"]
    return print_result(args, {"events": events}, lines)


ACTIONS = {"case-supervision": _case_supervision, "supervision": _supervision}
