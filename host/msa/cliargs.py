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
