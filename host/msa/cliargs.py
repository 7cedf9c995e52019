"""The words every `msa` command spells the same way: `--db URL`, a device id
(8 hex digits), a key (64 hex digits), `--json` output, a store opened for one
command and closed after it."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from msa.backend.store import DEFAULT_URL, Store, open_store

if TYPE_CHECKING:
    from msa.backend.keys import Kek


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("MSA_DATABASE_URL", DEFAULT_URL),
        metavar="URL",
        help="sqlite:///path.db or postgresql://user@host:port/db (%(default)s)",
    )


def add_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="the button's serial port, /dev/ttyUSB0")


def add_device_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device-id", type=device_id, required=True, help="the button's id, 8 hex digits"
    )


def add_case_person(parser: argparse.ArgumentParser) -> None:
    """--case REF and --person N: whose button it is."""
    parser.add_argument("--case", required=True, metavar="REF", help="the case's reference")
    parser.add_argument(
        "--person", type=int, default=1, metavar="N", help="the case's Nth person (%(default)s)"
    )


def device_id(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hexadecimal") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} does not fit in 32 bits")
    return value


def key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("the key must be 64 hex digits") from None
    if len(key) != 32:
        raise argparse.ArgumentTypeError(
            f"the key must be 32 bytes (64 hex digits), not {len(key)}"
        )
    return key


async def with_store(
    url: str, action: Callable[[Store], Awaitable[int]], kek: Kek | None = None
) -> int:
    store = await open_store(url, kek)
    try:
        return await action(store)
    finally:
        await store.close()


def print_result(args: argparse.Namespace, result: dict[str, Any], lines: list[str]) -> int:
    """`result` as one JSON object with --json, else `lines` for a human."""
    print(json.dumps(result) if args.json else "\n".join(lines))
    return 0


async def person_of(store: Store, args: argparse.Namespace) -> int:
    """The id of --person N of --case REF; UsageError saying what to do when there is none."""
    from msa.errors import UsageError

    case = await store.find_case(args.case)
    if case is None:
        raise UsageError(f"no case {args.case!r}: create it first (msa backend case-add FILE)")
    if not 1 <= args.person <= len(case.person_ids):
        raise UsageError(f"case {args.case} has {len(case.person_ids)} persons; --person 1 to that")
    return case.person_ids[args.person - 1]


def email(text: str) -> str:
    """A mail address, as `--email` takes it (argparse type)."""
    local, at, domain = text.partition("@")
    if not (local and at and "." in domain) or len(text) > 254 or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a mail address (name@domain.example)")
    return text
