"""`msa backend`: serve the backend, migrate its database, seed a demo case.

    msa backend serve [--db URL] [--host 127.0.0.1] [--port 8080] [--smtp HOST:PORT]
    msa backend migrate [--db URL] [--json]
    msa backend seed-demo [--db URL] [--device-id 00c0ffee] [--json]

`--db` defaults to $MSA_DATABASE_URL, else sqlite:///.msa/msa.db.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from msa.backend.store import DEFAULT_URL, Store, open_store
from msa.errors import MsaError, UsageError

DEMO_DEVICE_ID = 0x00C0FFEE


def register(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    serve = actions.add_parser("serve", help="serve the phone API and the CIC console")
    _add_db(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument(
        "--port",
        type=int,
        default=8080,
        help="port (%(default)s); 0 takes a free one, printed once listening",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request to stderr")
    serve.add_argument(
        "--smtp",
        default=os.environ.get("MSA_SMTP"),
        metavar="HOST:PORT",
        help="SMTP server for the magistrate's mails ($MSA_SMTP; without: they stay queued)",
    )
    serve.add_argument(
        "--mail-from",
        default=os.environ.get("MSA_MAIL_FROM", "msa-cic@localhost"),
        metavar="ADDRESS",
        help="sender of the magistrate's mails ($MSA_MAIL_FROM, else %(default)s)",
    )

    migrate = actions.add_parser("migrate", help="apply the schema migrations not applied yet")
    _add_db(migrate)
    migrate.add_argument("--json", action="store_true", help="print JSON")

    seed = actions.add_parser(
        "seed-demo", help="create the Ghent demo case, a device, its phone and an operator"
    )
    _add_db(seed)
    seed.add_argument(
        "--device-id",
        type=_device_id,
        default=DEMO_DEVICE_ID,
        help="the device id, 8 hex digits (%(default)08x)",
    )
    seed.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    if args.action == "serve":
        return _serve(args)
    if args.action == "migrate":
        return asyncio.run(_with_store(args.db, lambda store: _migrate(store, args)))
    return asyncio.run(_with_store(args.db, lambda store: _seed(store, args)))


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("MSA_DATABASE_URL", DEFAULT_URL),
        metavar="URL",
        help="sqlite:///path.db or postgresql://user@host:port/db (%(default)s)",
    )


def _device_id(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not hexadecimal") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} does not fit in 32 bits")
    return value


async def _with_store(url: str, action: Callable[[Store], Awaitable[int]]) -> int:
    store = await open_store(url)
    try:
        return await action(store)
    finally:
        await store.close()


async def _migrate(store: Store, args: argparse.Namespace) -> int:
    applied = await store.migrate()
    summary = f"applied migrations {', '.join(applied)}" if applied else "schema is up to date"
    return _print(args, {"database": args.db, "applied": applied}, [summary])


async def _seed(store: Store, args: argparse.Namespace) -> int:
    from msa.backend.auth import new_token
    from msa.backend.seed import seed_demo

    await store.migrate()
    key = secrets.token_bytes(32)
    phone_token, operator_token = new_token(), new_token()
    ids = await seed_demo(
        store,
        device_id=args.device_id,
        key=key,
        phone_token=phone_token,
        operator_token=operator_token,
    )
    result = {
        "database": args.db,
        "case_reference": ids["case_reference"],
        "device_id": f"{args.device_id:08x}",
        "key": key.hex(),
        "phone_token": phone_token,
        "operator_token": operator_token,
        "console_login": f"/console/login?token={operator_token}",
    }
    return _print(args, result, [f"{key:15} {value}" for key, value in result.items()])


def _print(args: argparse.Namespace, result: dict[str, Any], lines: list[str]) -> int:
    """`result` as one JSON object with --json, else `lines` for a human."""
    print(json.dumps(result) if args.json else "\n".join(lines))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from msa.backend.notify import SmtpConfig
    from msa.backend.server import serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0 to 65535)")
    smtp = SmtpConfig.parse(args.smtp, args.mail_from) if args.smtp else None
    # Migrate first: a database that cannot be reached is one clear line, not a traceback.
    asyncio.run(_with_store(args.db, _migrate_quietly))
    if not serve(args.db, host=args.host, port=args.port, access_log=args.access_log, smtp=smtp):
        raise MsaError(f"could not listen on {args.host}:{args.port} (see the log above)")
    return 0


async def _migrate_quietly(store: Store) -> int:
    await store.migrate()
    return 0
