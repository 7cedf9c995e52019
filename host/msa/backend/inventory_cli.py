"""`msa inventory`: the tech desk's buttons per judicial district.

    msa inventory [--district NAME] [--db URL] [--json]         counts, shortages flagged
    msa inventory add --district NAME ID [ID ...]               new buttons (or back from repair)
    msa inventory move ID --to stock|repair|returned [--note TEXT]
    msa inventory threshold --district NAME --min N             the district's reorder level

Provisioning (`msa backend provision`) assigns a button, revocation (`msa backend
revoke`) marks it lost. msa/backend/inventory.py says which moves are refused, and why.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from msa.backend.inventory import MOVABLE, STATES
from msa.backend.store import Store
from msa.cliargs import add_db, print_result, with_store
from msa.cliargs import device_id as device_id_arg


def register(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--district", metavar="NAME", help="one judicial district (default: all)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    add = actions.add_parser("add", help="put buttons in a district's stock")
    add.add_argument("--district", metavar="NAME", required=True, help="the judicial district")
    add.add_argument("device_ids", nargs="+", type=device_id_arg, metavar="ID", help="8 hex digits")
    _common(add)

    move = actions.add_parser("move", help="move a button to stock, repair or returned")
    move.add_argument("device_id", type=device_id_arg, metavar="ID", help="8 hex digits")
    move.add_argument("--to", required=True, choices=MOVABLE, help="where it goes")
    move.add_argument("--note", default="", help="why, for the history (optional)")
    _common(move)

    threshold = actions.add_parser(
        "threshold", help="a district's reorder level: under it, its stock is short"
    )
    threshold.add_argument("--district", metavar="NAME", required=True, help="the district")
    threshold.add_argument("--min", type=int, required=True, metavar="N", help="0 to 10000")
    _common(threshold)


def _common(parser: argparse.ArgumentParser) -> None:
    add_db(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    actions = {"add": _add, "move": _move, "threshold": _threshold, None: _counts}
    action = actions[args.action]
    return asyncio.run(with_store(args.db, lambda store: action(store, args)))


async def _counts(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    districts = await store.inventory_counts(args.district)
    result: dict[str, Any] = {"districts": [d.row() for d in districts]}
    header = f"{'district':24} " + " ".join(f"{state:>8}" for state in STATES) + "  min"
    lines = [header]
    for d in districts:
        counts = " ".join(f"{d.counts[state]:8d}" for state in STATES)
        flag = "  SHORT: order buttons" if d.short else ""
        lines.append(f"{d.district:24} {counts} {d.min_stock:4d}{flag}")
    if not districts:
        lines = ["no buttons yet: msa inventory add --district NAME ID ..."]
    return print_result(args, result, lines)


async def _add(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    added = await store.inventory_add(args.district, args.device_ids)
    ids = [f"{device:08x}" for device in added]
    line = f"{len(ids)} button(s) into the stock of {args.district}" + (
        f": {', '.join(ids)}" if ids else " (all were there already)"
    )
    return print_result(args, {"district": args.district, "added": ids}, [line])


async def _move(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    moved = await store.inventory_move(args.device_id, args.to, args.note)
    device = f"{args.device_id:08x}"
    line = f"device {device} " + (f"moved to {args.to}" if moved else f"is in {args.to} already")
    return print_result(args, {"device_id": device, "state": args.to, "moved": moved}, [line])


async def _threshold(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    await store.set_min_stock(args.district, args.min)
    line = f"{args.district}: stock under {args.min} button(s) is short"
    return print_result(args, {"district": args.district, "min_stock": args.min}, [line])
