"""`msa evidence`: a case's evidence log, exported for the magistrate and verified.

    msa evidence export --case REF --out FILE [--db URL] [--json]
    msa evidence verify FILE [--json]                 an export, anywhere, without the database
    msa evidence verify --case REF [--db URL] [--json]   the chain as the database holds it

The export is refused when the chain is broken (the break is named); verify exits 1
on a break and says where (msa/backend/evidence.py has the format).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from msa.backend.evidence import Entry, broken, verify_export, write_export
from msa.backend.store import Store
from msa.cliargs import add_db, print_result, with_store
from msa.errors import UsageError
from msa.timefmt import now_ms, to_iso

EXIT_BROKEN = 1


def register(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write a case's evidence to a new file")
    export.add_argument("--case", required=True, metavar="REF", help="the case's reference")
    export.add_argument("--out", required=True, type=Path, metavar="FILE", help="a new file")
    add_db(export)
    export.add_argument("--json", action="store_true", help="print JSON")
    verify = actions.add_parser("verify", help="check an export, or a case's chain in the database")
    verify.add_argument("file", nargs="?", type=Path, help="an export (msa evidence export)")
    verify.add_argument("--case", metavar="REF", help="check this case's chain in the database")
    add_db(verify)
    verify.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    if args.action == "verify" and (args.file is None) == (args.case is None):
        raise UsageError("give an export FILE to verify, or --case REF for the database's chain")
    if args.action == "verify" and args.file is not None:
        return _verify_file(args)
    action = _export if args.action == "export" else _verify_case
    return asyncio.run(with_store(args.db, lambda store: action(store, args)))


async def _chain(store: Store, reference: str) -> tuple[list[Entry], tuple[int, str], str | None]:
    await store.migrate()
    case = await store.find_case(reference)
    if case is None:
        raise UsageError(f"no case {reference!r}: check the reference (msa backend case-add)")
    await store.chain_evidence(case.case_id)  # its alarms the backend has not chained yet
    entries, head = await store.evidence(case.case_id)
    return entries, head, broken(entries, head)


async def _export(store: Store, args: argparse.Namespace) -> int:
    entries, head, problem = await _chain(store, args.case)
    if problem is not None:
        raise UsageError(
            f"the evidence of case {args.case} is broken: {problem}; nothing was exported. "
            "Keep the database as it is and call operations (docs/operations.md)"
        )
    digest = write_export(args.out, args.case, entries, to_iso(now_ms()))
    result = {"case": args.case, "file": str(args.out), "entries": len(entries),
              "head": head[1], "file_sha256": digest}  # fmt: skip
    lines = [
        f"{len(entries)} entries of case {args.case} in {args.out}",
        f"head     {head[1]}",
        f"sha256   {digest}   (note it down with the file)",
        f"check it anywhere: msa evidence verify {args.out}",
    ]
    return print_result(args, result, lines)


async def _verify_case(store: Store, args: argparse.Namespace) -> int:
    entries, head, problem = await _chain(store, args.case)
    return _verdict(args, {"case": args.case}, len(entries), head[1], problem)


def _verify_file(args: argparse.Namespace) -> int:
    header, count, problem = verify_export(args.file)
    facts = {"file": str(args.file), "case": header.get("case")}
    return _verdict(args, facts, count, str(header.get("head")), problem)


def _verdict(
    args: argparse.Namespace, facts: dict[str, Any], entries: int, head: str, problem: str | None
) -> int:
    where = facts.get("file") or f"case {facts['case']}"
    result = {**facts, "entries": entries, "head": head, "intact": problem is None,
              "problem": problem}  # fmt: skip
    if problem is None:
        line = f"{where}: {entries} entries, the chain is intact; head {head}"
    else:
        line = f"{where}: BROKEN: {problem}"
    print_result(args, result, [line])
    return 0 if problem is None else EXIT_BROKEN
