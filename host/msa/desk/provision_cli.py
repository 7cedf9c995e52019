"""`msa provision`: a button for a person of a case, over USB (msa/desk/provision.py).

    msa provision --port /dev/ttyUSB0 --case REF [--person 1] --device-id ID
                  [--settings FILE] [--until board|bond|test] [--wait-minutes 10]
                  [--board esp32|esp32c3|nrf52840|emulated] [--rotate] [--new-token]
                  [--db URL] [--kek-file PATH] [--json]

`--settings`: the per-device settings as JSON (press pattern, heartbeat interval:
firmware/settings.py), checked before anything is written. The flow ends with the
victim's phone bonded and the test alarm confirmed by the CIC (`--until test`);
`--until board` stops once the button runs with its key. Run again with the same
arguments after an interruption: it finishes where it stopped. With `--json` the
steps are told on stderr, the result alone is on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from boards import image
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

STEPS = 6
UNTIL = ("board", "bond", "test")
MAX_WAIT_MINUTES = 60
RESERVED = {"device_id", "key", "epoch"}  # device.json's values that msa provision sets


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
        "--board",
        choices=image.BOARDS,
        help="the board's kind: checked against its chip, and its build deployed when the "
        "board has no msa firmware or another version (default: no deploy)",
    )
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="a new key (the next epoch) for a button in service: its bond with the phone "
        "and its queued frames stay",
    )
    parser.add_argument(
        "--new-token",
        action="store_true",
        help="a run that goes on keeps the phone token it issued; this issues another "
        "(the one shown before stops working): when that one was lost",
    )
    parser.add_argument(
        "--until",
        choices=UNTIL,
        default="test",
        help="the last step: board (the key on the button), bond (the victim's phone "
        "bonded), test (the CIC confirmed the test alarm) (%(default)s)",
    )
    parser.add_argument(
        "--wait-minutes",
        type=int,
        default=10,
        metavar="N",
        help="for the phone's bond and for the CIC's confirmation, each; the test alarm "
        "stays armed as long (%(default)s)",
    )
    add_db(parser)
    parser.add_argument(
        "--kek-file", type=Path, metavar="PATH", help="the KEK, 64 hex digits (else $MSA_KEK)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.wait_minutes <= MAX_WAIT_MINUTES:
        raise UsageError(f"--wait-minutes is 1 to {MAX_WAIT_MINUTES}, not {args.wait_minutes}")
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
    reserved = RESERVED & set(values)
    if reserved:
        raise UsageError(f"{path} sets {', '.join(sorted(reserved))}: msa provision sets those")
    problems = validate({"device_id": 1, "key": "00" * 32, **values})
    if problems:
        raise UsageError(f"{path}: {'; '.join(problems)}")
    return values


async def _provision(store: Store, args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from msa.desk import provision

    device = f"{args.device_id:08x}"
    out = sys.stderr if args.json else sys.stdout

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    await store.migrate()
    person_id = await person_of(store, args)
    last = UNTIL.index(args.until)
    wait_s = args.wait_minutes * 60.0

    say(f"[1/{STEPS}] the board on {args.port} ...")
    held = await asyncio.to_thread(provision.read_board, args.port)
    if args.board is not None and provision.needs_firmware(held):
        provision.check_chip(args.port, held, args.board)
        version = provision.tool_firmware_version()
        say(f"      no firmware {version}: deploying the {args.board} build")
        written = await asyncio.to_thread(provision.deploy_firmware, args.port, args.board)
        say(f"      {written} files written, verified")
        held = await asyncio.to_thread(provision.read_board, args.port)
    provision.check_board(args.port, held, args.device_id, args.board)
    say(f"      {held.machine}, firmware {held.firmware}")

    say(f"[2/{STEPS}] the key and the phone token, for person {args.person} of {args.case} ...")
    on_board = str((held.device_json or {}).get("key", ""))
    issued = await provision.issue(
        store, args.device_id, person_id, args.rotate, on_board, args.new_token
    )
    kept = "rotated" if issued.rotated else "new" if issued.new_key else "kept"
    say(f"      key epoch {issued.epoch} ({kept})")
    if issued.phone_token is None:
        say("      phone token: the one issued before (--new-token if it was lost)")
    else:
        say(f"      phone token {issued.phone_token}   (for the 112 app; shown once)")

    # The button's own settings go on (a rotation, a run cut short) unless given anew.
    own = {k: v for k, v in (held.device_json or {}).items() if k not in RESERVED}
    wanted = {**own, **settings}
    wanted.update(device_id=args.device_id, key=issued.key.hex(), epoch=issued.epoch)
    tested = await store.test_alarm_confirmed(args.device_id, person_id, issued.epoch)
    test_until = None if tested or last < 2 else int(time.time() + wait_s * 2)
    armed = ", the test alarm armed" if test_until else ""
    say(f"[3/{STEPS}] device.json onto the board{armed}, read back ...")
    # A board that holds this device's file is the same button going on (a rotation,
    # a run cut short): its bond and queued frames stay. Without one, whatever an
    # earlier case left in data/ goes, its bond with it.
    erase = held.device_json is None
    await asyncio.to_thread(provision.write_board, args.port, wanted, erase, test_until)
    bonded = held.bonded and not erase

    say(f"[4/{STEPS}] the firmware starting as device {device} ...")
    console = await asyncio.to_thread(provision.Console, args.port)
    try:
        started = await asyncio.to_thread(provision.wait_for_firmware, console, args.device_id)
        say(f"      {started}")
        if last >= 1:
            say(f"[5/{STEPS}] the victim's phone bonded ...")
            if bonded:
                say("      bonded already")
            else:
                say(
                    f"      pair the victim's phone with the button now, in the 112 app "
                    f"(waiting {args.wait_minutes} min)"
                )
                await asyncio.to_thread(provision.wait_for_bond, console, wait_s)
                say("      bonded")
    finally:
        console.close()
    if last >= 2:
        say(f"[6/{STEPS}] the test alarm, confirmed by the CIC ...")
        if tested:
            say("      confirmed already")
        else:
            say(
                "      with the phone relaying (its token given), make the test gesture; "
                f"the CIC confirms it on its console (waiting {args.wait_minutes} min)"
            )
            await provision.wait_for_test(store, args.device_id, person_id, issued.epoch, wait_s)
            say("      confirmed: support has started")

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
        "until": args.until,
    }
    lines = [
        f"device {device} provisioned for person {args.person} of case {args.case}, key epoch "
        f"{issued.epoch}, up to: {args.until}",
    ]
    if last < 2:
        lines.append(f"next: the same command with --until test, on {args.port}")
    return print_result(args, result, lines)
