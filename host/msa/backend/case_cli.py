"""`msa case`: a case's life, from the request to the end (docs/cases.md).

    msa case request FILE --by police --on 2026-11-20      the case file, before a decision
    msa case assess REF --yes fears_for_life,threats,...   the 8 questions: the ones answered yes
    msa case decide REF --grant|--refuse --on DAY [--note TEXT]     the magistrate's decision
    msa case extend REF --on DAY --reason TEXT             +9 months on new facts
    msa case revisit REF --on DAY [--note TEXT]            the 3-monthly revisit
    msa case reevaluate REF --on DAY [--note TEXT]         the month before the end
    msa case stay REF --person NRN --address TEXT --from DAY --until DAY [--country BE]
                  [--announced DAY]
    msa case move REF --zone NAME                          another managing zone
    msa case end REF --on DAY --reason REASON              deactivates the buttons
    msa case show REF [--on DAY]                           its state, tasks, registrations
    msa case tasks --zone NAME [--on DAY]                  what the zone owes its cases

Every command takes `--db URL` and `--json`. A refused step exits 2 and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

from msa.backend.case_life import (
    END_REASON_TEXT,
    END_REASONS,
    REQUESTERS,
    RISK_KEYS,
    RISK_QUESTIONS,
    parse_day,
)
from msa.backend.cases import draft_from_json
from msa.backend.daily_report import BRUSSELS
from msa.backend.store import Store
from msa.cliargs import add_db, print_result, with_store
from msa.errors import UsageError
from msa.timefmt import now_ms

ACTOR = "cli"
MAX_TEXT = 500


def register(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str, reference: bool = True) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text)
        if reference:
            sub.add_argument("reference", type=_text, help="the case's reference")
        add_db(sub)
        sub.add_argument("--json", action="store_true", help="print JSON")
        return sub

    request = action("request", "a request, with the case file, before the decision", False)
    request.add_argument("file", type=Path, help="the case file (JSON, docs/examples/case.json)")
    request.add_argument("--by", required=True, choices=REQUESTERS, help="who asks")
    request.add_argument("--on", required=True, type=_day, metavar="DAY", help="when")
    assess = action("assess", "the risk assessment's eight questions")
    assess.add_argument(
        "--yes", type=_answers, default=(), metavar="Q,Q,…",
        help=f"the questions answered yes (the others: no): {', '.join(RISK_KEYS)}",
    )  # fmt: skip
    decide = action("decide", "the magistrate's grant or refusal (a refusal may be revisited)")
    choice = decide.add_mutually_exclusive_group(required=True)
    choice.add_argument("--grant", action="store_true", help="9 months from --on")
    choice.add_argument("--refuse", action="store_true", help="recorded with --note")
    decide.add_argument("--on", required=True, type=_day, metavar="DAY")
    decide.add_argument("--note", type=_text)
    extend = action("extend", "the magistrate extends the measure by 9 months on new facts")
    extend.add_argument("--on", required=True, type=_day, metavar="DAY")
    extend.add_argument("--reason", required=True, type=_text, help="the new facts")
    reviews = {
        "revisit": "the zone's 3-monthly revisit",
        "reevaluate": "the re-evaluation in the month before the end",
    }
    for name, help_text in reviews.items():
        review = action(name, help_text)
        review.add_argument("--on", required=True, type=_day, metavar="DAY")
        review.add_argument("--note", type=_text)
    stay = action("stay", "a stay the person announces (5 nights or more: 7 days ahead)")
    stay.add_argument("--person", required=True, type=_text, metavar="NRN",
                      help="the person's national register number")  # fmt: skip
    stay.add_argument("--address", required=True, type=_text)
    stay.add_argument("--from", dest="starts", required=True, type=_day, metavar="DAY")
    stay.add_argument("--until", dest="ends", required=True, type=_day, metavar="DAY")
    stay.add_argument("--country", default="BE", type=_country, help="ISO code (BE)")
    stay.add_argument("--announced", type=_day, metavar="DAY", help="when (default: today)")
    move = action("move", "the case moves to another managing zone")
    move.add_argument("--zone", required=True, type=_text, metavar="NAME")
    end = action("end", "the measure ends: its buttons are deactivated, to be returned")
    end.add_argument("--on", required=True, type=_day, metavar="DAY")
    end.add_argument("--reason", required=True, choices=END_REASONS)
    show = action("show", "the case: its state, tasks and the prosecutor's registrations")
    show.add_argument("--on", type=_day, metavar="DAY", help="the day its tasks are for")
    listed = action("tasks", "what a zone owes its cases on a day", False)
    listed.add_argument("--zone", required=True, type=_text, metavar="NAME")
    listed.add_argument("--on", type=_day, metavar="DAY", help="the day (default: today)")


def _text(text: str) -> str:
    cleaned = text.strip()
    if not 1 <= len(cleaned) <= MAX_TEXT or any(ord(c) < 32 for c in cleaned):
        raise argparse.ArgumentTypeError(f"give 1 to {MAX_TEXT} printable characters")
    return cleaned


def _day(text: str) -> dt.date:
    try:
        return parse_day(text, "the day")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _answers(text: str) -> tuple[str, ...]:
    keys = tuple(key.strip() for key in text.split(",") if key.strip())
    unknown = [key for key in keys if key not in RISK_KEYS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"no question {unknown[0]!r}: one of {', '.join(RISK_KEYS)}"
        )
    return keys


def _country(text: str) -> str:
    if len(text) != 2 or not text.isalpha():
        raise argparse.ArgumentTypeError(f"{text!r} is not a two-letter country code")
    return text.upper()


def _today() -> dt.date:
    return dt.datetime.now(BRUSSELS).date()


def run(args: argparse.Namespace) -> int:
    return asyncio.run(with_store(args.db, lambda store: _ACTIONS[args.action](store, args)))


def _refused(what: str) -> UsageError:
    return UsageError(f"{what}; nothing was changed")


async def _request(store: Store, args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.file.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {args.file}: {error.strerror}") from None
    except ValueError as error:
        raise UsageError(f"{args.file} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{args.file} holds no case object")
    data = {k: v for k, v in data.items() if k not in ("decided_on", "ends_on")}
    draft = draft_from_json({**data, "decided_on": args.on.isoformat()})  # checks every field
    await store.migrate()
    outcome = await store.request_case(
        draft.reference, args.by, args.on, draft.managing_zone, draft.judicial_district,
        json.dumps(data, ensure_ascii=False), ACTOR, now_ms(),
    )  # fmt: skip
    if outcome == "exists":
        raise _refused(f"a request or case {draft.reference!r} exists already")
    result = {"request": draft.reference, "by": args.by, "on": args.on.isoformat()}
    return print_result(
        args, result, [f"request {draft.reference} recorded; next: msa case assess"]
    )


async def _assess(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    answers = {key: key in args.yes for key in RISK_KEYS}
    outcome = await store.assess_risk(args.reference, answers, ACTOR, now_ms())
    if outcome != "done":
        raise _refused(
            f"no request {args.reference!r}" if outcome == "unknown" else "it is granted already"
        )
    lines = [f"{'yes' if answers[k] else 'no ':<3}  {q}" for k, q in RISK_QUESTIONS]
    return print_result(args, {"request": args.reference, "answers": answers}, lines)


async def _decide(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    decided = await store.decide_request(
        args.reference, args.grant, args.on, args.note or "", ACTOR, now_ms()
    )
    reasons = {
        "unknown": f"no request {args.reference!r}: msa case request first",
        "not_assessed": "the risk assessment is missing: msa case assess first",
        "already_granted": f"{args.reference} is granted already",
    }
    if decided.outcome in reasons:
        raise _refused(reasons[decided.outcome])
    result: dict[str, Any] = {"request": args.reference, "decision": decided.outcome}
    if decided.ends_on is not None:
        result["ends_on"] = decided.ends_on.isoformat()
    line = f"{args.reference}: {decided.outcome}" + (
        f", the measure ends on {decided.ends_on}" if decided.ends_on else ""
    )
    return print_result(args, result, [line])


async def _extend(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    outcome, ends_on = await store.extend_case(
        args.reference, args.on, args.reason, ACTOR, now_ms()
    )
    _check_step(outcome, args.reference)
    assert ends_on is not None
    result = {"case": args.reference, "ends_on": ends_on.isoformat()}
    return print_result(args, result, [f"{args.reference}: extended, ends on {ends_on}"])


async def _review(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    case = await store.case_life(args.reference)
    if case is None:
        raise _refused(f"no case {args.reference!r}")
    kind: Literal["revisit", "reevaluation"] = (
        "revisit" if args.action == "revisit" else "reevaluation"
    )
    outcome = await store.review_case(case.id, kind, args.on, args.note or "", ACTOR, now_ms())
    _check_step(outcome, args.reference)
    result = {"case": args.reference, kind: args.on.isoformat(), "status": outcome}
    return print_result(args, result, [f"{args.reference}: {kind} on {args.on} ({outcome})"])


async def _stay(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    announced = args.announced or _today()
    try:
        decision = await store.add_stay(
            args.reference, args.person, args.address, args.country, args.starts, args.ends,
            announced, ACTOR, now_ms(),
        )  # fmt: skip
    except ValueError as error:
        raise _refused(str(error)) from None
    if decision is None:
        raise _refused(f"no active case {args.reference!r} with a person {args.person}")
    result = {"case": args.reference, "outcome": decision.outcome, "nights": decision.nights,
              "reason": decision.reason}  # fmt: skip
    print_result(args, result, [f"stay {decision.outcome}: {decision.reason}"])
    return 0 if decision.outcome != "refused" else 2


async def _move(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    outcome = await store.move_case(args.reference, args.zone, ACTOR, now_ms())
    if outcome == "unknown":
        raise _refused(f"no case {args.reference!r}")
    if outcome == "unknown_zone":
        raise _refused(f"no police zone {args.zone!r}: see msa backend zones")
    result = {"case": args.reference, "zone": args.zone, "status": outcome}
    return print_result(args, result, [f"{args.reference}: managed by {args.zone} ({outcome})"])


async def _end(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    ended = await store.end_case(args.reference, args.on, args.reason, ACTOR, now_ms())
    _check_step(ended.outcome, args.reference)
    buttons = [f"{d:08x}" for d in ended.deactivated]
    result = {"case": args.reference, "ended_on": args.on.isoformat(), "reason": args.reason,
              "deactivated": buttons}  # fmt: skip
    lines = [
        f"{args.reference}: ended on {args.on} ({END_REASON_TEXT[args.reason]})",
        f"buttons deactivated, to be returned (msa decommission): {', '.join(buttons) or 'none'}",
    ]
    return print_result(args, result, lines)


async def _show(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    case = await store.case_life(args.reference)
    if case is None:
        raise UsageError(f"no case {args.reference!r}")
    today = args.on or _today()
    row = case.row(today)
    lines = [
        f"case {case.reference} ({case.status}), managed by {case.zone}",
        f"decided {case.decided_on}, ends {case.ends_on or '-'}"
        + (f", ended {case.ended_on} ({case.end_reason})" if case.ended_on else ""),
        *[f"task: {task.text}" for task in case.tasks(today)],
        *[f"registration: {line}" for line in case.registrations],
    ]
    return print_result(args, row, lines)


async def _tasks(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    zone_id = await store.zone_id(args.zone)
    if zone_id is None:
        raise UsageError(f"no police zone {args.zone!r}: see msa backend zones")
    today = args.on or _today()
    due = [case for case in await store.zone_cases(zone_id) if case.tasks(today)]
    lines = [f"{case.reference}: {task.text}" for case in due for task in case.tasks(today)] or [
        f"{args.zone}: nothing due on {today}"
    ]
    result = {"zone": args.zone, "on": today.isoformat(), "cases": [c.row(today) for c in due]}
    return print_result(args, result, lines)


def _check_step(outcome: str, reference: str) -> None:
    if outcome == "unknown":
        raise _refused(f"no case {reference!r}")
    if outcome == "ended":
        raise _refused(f"case {reference} has ended")


_ACTIONS = {
    "request": _request,
    "assess": _assess,
    "decide": _decide,
    "extend": _extend,
    "revisit": _review,
    "reevaluate": _review,
    "stay": _stay,
    "move": _move,
    "end": _end,
    "show": _show,
    "tasks": _tasks,
}
