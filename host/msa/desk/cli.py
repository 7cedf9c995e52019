"""`msa decommission`: a button's case is over, or it goes back for repair.

    msa decommission --port /dev/ttyUSB0 --device-id 0badf00d [--to stock|repair]
                     [--db URL] [--json]

In this order, each step idempotent, so that the same command run again after an
interruption (an unplugged board, a killed process) finishes where it stopped:
1. the backend knows the device (else nothing is touched);
2. the board on the port is that button (its device.json), or blank already;
3. it is wiped (device.json, data/) and read back: nothing of the case is left;
4. the backend, in one transaction: every key of the device revoked, its phone's
   tokens removed, the button to stock or repair in the inventory, the end in the
   case's audit trail.
"""

from __future__ import annotations

import argparse
import asyncio

from msa.backend.store import Store
from msa.cliargs import add_db, add_device_id, add_port, print_result, with_store
from msa.errors import UsageError

ACTOR = "tech-desk"


def register(parser: argparse.ArgumentParser) -> None:
    add_port(parser)
    add_device_id(parser)
    parser.add_argument(
        "--to", choices=("stock", "repair"), default="stock", help="where it goes (%(default)s)"
    )
    add_db(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(with_store(args.db, lambda store: _decommission(store, args)))


async def _decommission(store: Store, args: argparse.Namespace) -> int:
    from msa.desk.wipe import wipe

    device = f"{args.device_id:08x}"
    say = (lambda _line: None) if args.json else (lambda line: print(line, flush=True))
    await store.migrate()
    if not await store.device_known(args.device_id):
        raise UsageError(f"no device {device} in the backend: check the id; nothing was touched")
    say(f"[1/2] wiping the button on {args.port} ...")
    wiped = await asyncio.to_thread(wipe, args.port, args.device_id)
    say(
        f"      {'wiped' if wiped.was_provisioned else 'blank already'}; read back: "
        f"no device.json, no data/ (left: {', '.join(wiped.left) or 'nothing'})"
    )
    say("[2/2] revoking its keys and its phone's tokens, returning it ...")
    done = await store.decommission_device(args.device_id, args.to, ACTOR)
    result = {
        "device_id": device,
        "port": args.port,
        "wiped": wiped.was_provisioned,
        "left_on_board": wiped.left,
        "case_reference": done.case_reference,
        "keys_revoked": done.keys_revoked,
        "tokens_revoked": done.tokens_revoked,
        "state": done.state,
        "done_now": done.done_now,
    }
    if done.done_now:
        line = (
            f"device {device} decommissioned from case {done.case_reference}: "
            f"{done.keys_revoked} key(s) and {done.tokens_revoked} phone token(s) revoked; "
            f"in {done.state}"
        )
    else:
        line = f"device {device} was decommissioned already (in {done.state}): unchanged"
    return print_result(args, result, [line])
