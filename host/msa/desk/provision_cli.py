"""`msa provision`: a button for a person of a case, over USB (msa/desk/provision.py).

    msa provision --port /dev/ttyUSB0 --case REF [--person 1] --device-id ID
                  [--settings FILE] [--db URL] [--kek-file PATH] [--json]

`--settings`: the per-device settings as JSON (press pattern, heartbeat interval:
firmware/settings.py), checked before anything is written. Run again with the same
arguments after an interruption: it finishes where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from msa.backend.keys import load_kek, require_kek
from msa.backend.store import Store
from msa.cliargs import (
    add_case_person,
    add_db,
    add_device_id,
    add_port,
    person_of,
    print_result,
    with_store,
)
from msa.errors import UsageError

STEPS = 4


def register(parser: argparse.ArgumentParser) -> None:
    add_port(parser)
    add_case_person(parser)
    add_device_id(parser)
    parser.add_argument(
        "--settings",
        type=Path,
        metavar="FILE",
        help="device settings as JSON (firmware/settings.py)",
    )
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="a new key (the next epoch) for a button in service: its bond with the phone "
        "and its queued frames stay",
    )
    add_db(parser)
    parser.add_argument(
        "--kek-file", type=Path, metavar="PATH", help="the KEK, 64 hex digits (else $MSA_KEK)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    kek = require_kek(load_kek(args.kek_file))
    settings = _settings(args.settings)
    return asyncio.run(with_store(args.db, lambda store: _provision(store, args, settings), kek))


def _settings(path: Path | None) -> dict[str, Any]:
    from firmware.settings import validate

    if path is None:
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise UsageError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise UsageError(f"{path} must hold one JSON object of settings")
    reserved = {"device_id", "key", "epoch"} & set(values)
    if reserved:
        raise UsageError(f"{path} sets {', '.join(sorted(reserved))}: msa provision sets those")
    problems = validate({"device_id": 1, "key": "00" * 32, **values})
    if problems:
        raise UsageError(f"{path}: {'; '.join(problems)}")
    return values


async def _provision(store: Store, args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from msa.desk import provision

    device = f"{args.device_id:08x}"
    say = (lambda _line: None) if args.json else (lambda line: print(line, flush=True))
    await store.migrate()
    person_id = await person_of(store, args)

    say(f"[1/{STEPS}] the board on {args.port} ...")
    held = await asyncio.to_thread(provision.read_board, args.port)
    provision.check_board(args.port, held, args.device_id)
    say(f"      {held.machine}, firmware {held.firmware}")

    say(f"[2/{STEPS}] the key and the phone token, for person {args.person} of {args.case} ...")
    on_board = str((held.device_json or {}).get("key", ""))
    issued = await provision.issue(store, args.device_id, person_id, args.rotate, on_board)
    kept = "rotated" if issued.rotated else "new" if issued.new_key else "kept"
    say(f"      key epoch {issued.epoch} ({kept})")

    wanted = {"device_id": args.device_id, "key": issued.key.hex(), "epoch": issued.epoch}
    wanted.update(settings)
    say(f"[3/{STEPS}] device.json onto the board, read back ...")
    # A board that holds this device's file is the same button going on (a rotation,
    # a run cut short): its bond and queued frames stay. Without one, whatever an
    # earlier case left in data/ goes.
    erase = held.device_json is None
    await asyncio.to_thread(provision.write_board, args.port, wanted, erase)
    say(f"[4/{STEPS}] the firmware starting as device {device} ...")
    started = await asyncio.to_thread(provision.wait_for_firmware, args.port, args.device_id)
    say(f"      {started}")

    result = {
        "device_id": device,
        "case_reference": args.case,
        "person": args.person,
        "epoch": issued.epoch,
        "new_key": issued.new_key,
        "rotated": issued.rotated,
        "phone_token": issued.phone_token,
        "firmware": held.firmware,
        "board": held.machine,
    }
    lines = [
        f"device {device} provisioned for person {args.person} of case {args.case}, key epoch "
        f"{issued.epoch}",
        f"phone token  {issued.phone_token}   (give it to the 112 app; shown once)",
        f"next: bond the victim's phone (msa app pair), then the test call: "
        f"msa arm-test --port {args.port}",
    ]
    return print_result(args, result, lines)
