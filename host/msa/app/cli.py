"""`msa app`: the phone's side, on its own: bond with a button, relay its frames.

    msa app pair --button ADDR --link bleak                  # once, at the tech desk
    msa app run  --button ADDR --link bleak --backend URL --phone-token T --device-id HEX
    msa app outbox                                           # what waits, what was refused

`--link bleak` uses this computer's Bluetooth adapter (a real board on a bench);
`--link bumble:tcp-client:127.0.0.1:PORT` reaches an emulated board started with
`msa board run --hci-port PORT`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

from msa.app.forwarder import Forwarder
from msa.app.link import open_link
from msa.app.location import GHENT, Location
from msa.app.outbox import Outbox
from msa.app.phone import Phone
from msa.app.reports import PhoneReports
from msa.errors import UsageError

DEFAULT_DIR = Path(".msa/phone")
MAX_BACKENDS = 16  # nodes behind one backend: a handful in practice
MAX_URL = 2048


def register(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    pair = actions.add_parser("pair", help="bond with the button (once, at the tech desk)")
    run_ = actions.add_parser("run", help="stay linked to the button and relay its frames")
    outbox = actions.add_parser("outbox", help="the frames waiting or refused")
    outbox.add_argument("--json", action="store_true")
    for sub in (pair, run_):
        sub.add_argument("--button", required=True, metavar="ADDRESS", help="its BLE address")
        sub.add_argument(
            "--link", default="bleak", help="bleak[:ADAPTER] or bumble:TRANSPORT (%(default)s)"
        )
    run_.add_argument(
        "--backend",
        required=True,
        action="append",
        metavar="URL",
        help="http://host:port; once per backend node, tried in turn when one fails",
    )
    run_.add_argument(
        "--phone-token",
        required=True,
        action="append",
        metavar="[EPOCH:]TOKEN",
        help="issued at provisioning; once per key epoch after a re-provisioning",
    )
    run_.add_argument("--device-id", required=True, type=_hex, help="the button's id (hex)")
    run_.add_argument("--lat", type=float, default=GHENT.lat, help="this phone's position")
    run_.add_argument("--lon", type=float, default=GHENT.lon)
    for sub in (pair, run_, outbox):
        sub.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="(%(default)s)")


def _hex(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hexadecimal") from None


def run(args: argparse.Namespace) -> int:
    if args.action == "outbox":
        return _show_outbox(args)
    logging.basicConfig(level=logging.INFO, format="msa app: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(_pair(args) if args.action == "pair" else _relay(args))


def _tokens(given: list[str]) -> str | dict[int, str]:
    """`--phone-token T` (one token), or `--phone-token E:T` per key epoch."""
    if len(given) == 1 and ":" not in given[0]:
        return given[0]
    tokens = {}
    for text in given:
        epoch, colon, token = text.partition(":")
        if not colon or not epoch.isdigit() or not 0 <= int(epoch) <= 255 or not token:
            raise UsageError(
                f"--phone-token {text!r}: give EPOCH:TOKEN (epoch 0 to 255) for each epoch"
            )
        tokens[int(epoch)] = token
    return tokens


def _phone(
    args: argparse.Namespace, backends: list[str] | None = None, token: str | dict[int, str] = ""
) -> Phone:
    link = open_link(args.link, args.button, args.dir)
    outbox = Outbox(args.dir / "outbox.db")
    forwarder = Forwarder(outbox, backends or ["http://127.0.0.1:9"], token)
    location = Location(getattr(args, "lat", GHENT.lat), getattr(args, "lon", GHENT.lon), 8.0)
    reports = PhoneReports(forwarder, location) if backends else None
    return Phone(link, outbox, forwarder, getattr(args, "device_id", 0), location, reports)


async def _pair(args: argparse.Namespace) -> int:
    phone = _phone(args)
    try:
        await phone.pair()
    finally:
        await phone.link.close()
    print(f"msa app: bonded with {args.button}")
    return 0


async def _relay(args: argparse.Namespace) -> int:
    for url in args.backend:
        if not url.startswith(("http://", "https://")) or len(url) > MAX_URL:
            raise UsageError(f"--backend {url!r} is not an http(s) URL")
    if len(args.backend) > MAX_BACKENDS:
        raise UsageError(f"--backend: at most {MAX_BACKENDS} nodes, not {len(args.backend)}")
    phone = _phone(args, args.backend, _tokens(args.phone_token))
    print(f"msa app: relaying {args.button} to {', '.join(args.backend)}", flush=True)
    try:
        await phone.run()
    finally:
        await phone.link.close()
        await phone.forwarder.close()
    return 0


def _show_outbox(args: argparse.Namespace) -> int:
    outbox = Outbox(args.dir / "outbox.db")
    rejected = [
        {"device_id": f"{d:08x}", "counter": c, "error": e} for d, c, e in outbox.rejections()
    ]
    # delivered: committed by the backend, its receipt not yet written to the button
    summary = {
        "pending": outbox.count("pending"),
        "delivered": outbox.count("delivered"),
        "rejected": rejected,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"pending {summary['pending']}, delivered awaiting the button "
            f"{summary['delivered']}, rejected {len(rejected)}"
        )
        for entry in rejected:
            print(f"  {entry['device_id']} #{entry['counter']}: {entry['error']}")
    return 0
