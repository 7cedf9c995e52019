"""`msa backend`: serve the backend, migrate its database, seed a demo case.

    msa backend kek-new PATH [--json]                              # once, the operator
    msa backend serve [--db URL] [--kek-file PATH] [--host 127.0.0.1] [--port 8080]
                      [--smtp HOST:PORT] [--tls-cert FILE --tls-key FILE]
                      [--public-url URL] [--forwarded-allow-ips IPS] [--access-log]
    msa backend migrate [--db URL] [--kek-file PATH] [--json]
    msa backend seed-demo [--db URL] [--kek-file PATH] [--device-id 00c0ffee] [--json]
    msa backend case-add CASE.json [--db URL] [--json]             # the reference officer
    msa backend provision --case REF --person 1 --device-id ID     # the tech desk
                          [--key HEX] [--device-json PATH] [--db URL] [--kek-file PATH] [--json]
    msa backend revoke --device-id ID --reason lost|stolen [--db URL] [--json]  # tech desk
    msa backend magistrate --district NAME --email ADDR [--db URL] [--json]
    msa backend zone-add --zone NAME --district NAME --box S,W,N,E [--db URL] [--json]
    msa backend zones [--db URL] [--json]                          # the zones' areas
    msa backend operator-add NAME [--role zone_officer --zone Z]   # an operator's token
    msa backend login-link NAME [--minutes 10] [--public-url URL]  # a single-use log-in link

`--db` defaults to $MSA_DATABASE_URL, else sqlite:///.msa/msa.db. `--kek-file`
(else $MSA_KEK, 64 hex digits) is the key-encryption key of the device keys
(msa.backend.keys): serve, seed-demo and provision need it. `--public-url` (where
operators' browsers reach the backend) defaults to $MSA_PUBLIC_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from msa.backend import daily_report_cli, supervision_cli, zones_cli
from msa.backend.keys import load_kek, new_kek_file, require_kek
from msa.backend.nodes import LEASE_S, MAX_LEASE_S, MIN_LEASE_S, lease_length
from msa.backend.notify import DEFAULT_SENDER
from msa.backend.roles import BY_DISTRICT, BY_ZONE, ROLES
from msa.backend.store import Store
from msa.cliargs import (
    add_case_person,
    add_db,
    add_device_id,
    person_of,
    print_result,
    with_store,
)
from msa.cliargs import device_id as device_id_arg
from msa.cliargs import email as email_arg
from msa.cliargs import key as key_arg
from msa.errors import MsaError, UsageError
from msa.private_files import write_private

if TYPE_CHECKING:
    from msa.backend.login import LoginLink
    from msa.backend.server import Tls

DEMO_DEVICE_ID = 0x00C0FFEE


def register(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    kek_new = actions.add_parser(
        "kek-new", help="make a key-encryption key file for the device keys (mode 0600)"
    )
    kek_new.add_argument("path", type=Path, help="the file to write (never overwritten)")
    kek_new.add_argument("--json", action="store_true", help="print JSON")

    serve = actions.add_parser("serve", help="serve the phone API and the CIC console")
    add_db(serve)
    _add_kek(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument(
        "--port",
        type=int,
        default=8080,
        help="port (%(default)s); 0 takes a free one, printed once listening",
    )
    serve.add_argument(
        "--access-log", action="store_true", help="log every request to stderr (one line each)"
    )
    serve.add_argument("--tls-cert", type=Path, metavar="FILE", help="serve HTTPS: the certificate")
    serve.add_argument("--tls-key", type=Path, metavar="FILE", help="serve HTTPS: its key")
    serve.add_argument(
        "--public-url",
        type=_public_url,
        default=os.environ.get("MSA_PUBLIC_URL"),
        metavar="URL",
        help="where browsers reach the backend, e.g. https://cic.example ($MSA_PUBLIC_URL)",
    )
    serve.add_argument(
        "--tiles",
        type=_tiles,
        default=os.environ.get("MSA_TILES"),
        metavar="URL",
        help="map tiles for the console's trail map, e.g. "
        "https://tile.example/{z}/{x}/{y}.png ($MSA_TILES); none: the trail on a plain grid",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="reverse proxies (comma-separated addresses) whose X-Forwarded-For/-Proto to "
        "trust; without it, none",
    )
    serve.add_argument(
        "--smtp",
        default=os.environ.get("MSA_SMTP"),
        metavar="HOST:PORT",
        help="SMTP server for the magistrate's mails ($MSA_SMTP; without: they stay queued)",
    )
    serve.add_argument(
        "--mail-from",
        default=os.environ.get("MSA_MAIL_FROM", DEFAULT_SENDER),
        metavar="ADDRESS",
        help="sender of the magistrate's mails ($MSA_MAIL_FROM, else %(default)s)",
    )

    serve.add_argument(
        "--lease-s",
        type=_lease_seconds,
        default=LEASE_S,
        metavar="SECONDS",
        help="several nodes on PostgreSQL: how long a scheduled job (sweep, reports) stays "
        "with a node that stopped renewing it, before another takes it (%(default)g; "
        f"{MIN_LEASE_S:g} to {MAX_LEASE_S:g})",
    )

    migrate = actions.add_parser("migrate", help="apply the schema migrations not applied yet")
    add_db(migrate)
    _add_kek(migrate)
    migrate.add_argument("--json", action="store_true", help="print JSON")

    seed = actions.add_parser(
        "seed-demo", help="create the Ghent demo case, a device, its phone and an operator"
    )
    add_db(seed)
    _add_kek(seed)
    seed.add_argument(
        "--device-id",
        type=device_id_arg,
        default=DEMO_DEVICE_ID,
        help="the device id, 8 hex digits (%(default)08x)",
    )
    seed.add_argument("--key", type=key_arg, help="the button's key, 64 hex digits (default: new)")
    seed.add_argument("--json", action="store_true", help="print JSON")

    case_add = actions.add_parser(
        "case-add", help="create a case from a JSON file (docs/tech-desk.md)"
    )
    case_add.add_argument("file", type=Path, help="the case as JSON")
    add_db(case_add)
    case_add.add_argument("--json", action="store_true", help="print JSON")

    provision = actions.add_parser(
        "provision", help="register a button for a person of a case; issue its key and phone token"
    )
    add_case_person(provision)
    add_device_id(provision)
    provision.add_argument(
        "--key", type=key_arg, help="the button's key, 64 hex digits (default: new)"
    )
    provision.add_argument(
        "--device-json", type=Path, metavar="PATH", help="also write the button's device.json here"
    )
    add_db(provision)
    _add_kek(provision)
    provision.add_argument("--json", action="store_true", help="print JSON")

    revoke = actions.add_parser(
        "revoke",
        help="a lost or stolen button: its frames are refused and shown to the CIC",
    )
    add_device_id(revoke)
    revoke.add_argument(
        "--reason", choices=("lost", "stolen"), required=True, help="what happened to it"
    )
    add_db(revoke)
    revoke.add_argument("--json", action="store_true", help="print JSON")

    magistrate = actions.add_parser(
        "magistrate", help="the judicial district's magistrate, who is mailed (alarms, stock)"
    )
    magistrate.add_argument("--district", required=True, metavar="NAME", help="the district")
    magistrate.add_argument(
        "--email", required=True, type=email_arg, help="the magistrate's address"
    )
    add_db(magistrate)
    magistrate.add_argument("--json", action="store_true", help="print JSON")
    zones_cli.register(actions)
    supervision_cli.register(actions)
    daily_report_cli.register(actions)

    operator = actions.add_parser(
        "operator-add", help="add an operator (or renew the token); prints a log-in link"
    )
    operator.add_argument("name", help="the operator's login name")
    operator.add_argument(
        "--role",
        choices=ROLES,
        default=ROLES[0],
        help=f"one of {', '.join(ROLES)} (docs/roles.md); default {ROLES[0]}",
    )
    operator.add_argument(
        "--zone", metavar="NAME", help="the zone officer's police zone (zone_officer only)"
    )
    operator.add_argument(
        "--district",
        metavar="NAME",
        help="the judicial district (magistrate and victim_support only)",
    )
    _add_link_options(operator)
    add_db(operator)
    operator.add_argument("--json", action="store_true", help="print JSON")

    link = actions.add_parser(
        "login-link", help="a log-in link for a CIC operator: works once, for a few minutes"
    )
    link.add_argument("name", help="the operator's login name")
    _add_link_options(link)
    add_db(link)
    link.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    if args.action == "serve":
        return _serve(args)
    if args.action == "kek-new":
        return _kek_new(args)
    # Without --kek-file, $MSA_KEK: case-add and operator-add use it only to wrap
    # keys an older database holds in plain text, when they migrate it.
    kek = load_kek(getattr(args, "kek_file", None))
    if args.action in ("seed-demo", "provision"):
        require_kek(kek)
    actions = {
        "migrate": _migrate,
        "seed-demo": _seed,
        "case-add": _case_add,
        "provision": _provision,
        "revoke": _revoke,
        "magistrate": _magistrate,
        "operator-add": _operator_add,
        "login-link": _login_link,
        **zones_cli.ACTIONS,
        **supervision_cli.ACTIONS,
        **daily_report_cli.ACTIONS,
    }
    action = actions[args.action]
    return asyncio.run(with_store(args.db, lambda store: action(store, args), kek))


def _add_kek(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kek-file",
        type=Path,
        metavar="PATH",
        help="the device keys' key-encryption key, 64 hex digits (else $MSA_KEK)",
    )


def _add_link_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--minutes",
        type=int,
        default=10,
        help="how long the link works, 1 to 60 minutes (%(default)s)",
    )
    parser.add_argument(
        "--public-url",
        type=_public_url,
        default=os.environ.get("MSA_PUBLIC_URL", "http://127.0.0.1:8080"),
        metavar="URL",
        help="where browsers reach the backend ($MSA_PUBLIC_URL, else %(default)s)",
    )


def _tiles(text: str) -> str:
    from msa.backend.console_page import tile_origin

    if tile_origin(text) is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a tile URL: give http(s)://HOST/…{{z}}…{{x}}…{{y}}…"
        )
    return text


def _lease_seconds(text: str) -> float:
    try:
        return lease_length(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a lease length: give seconds, {MIN_LEASE_S:g} to {MAX_LEASE_S:g}"
        ) from None


def _public_url(text: str) -> str:
    from msa.backend.auth import parse_origin

    url = text.rstrip("/")
    if parse_origin(url) is None or url.count("/") != 2 or "?" in url or "#" in url:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an origin: write http(s)://HOST[:PORT], without a path"
        )
    return url


async def _migrate(store: Store, args: argparse.Namespace) -> int:
    applied = await store.migrate()
    summary = f"applied migrations {', '.join(applied)}" if applied else "schema is up to date"
    return print_result(args, {"database": args.db, "applied": applied}, [summary])


async def _seed(store: Store, args: argparse.Namespace) -> int:
    from msa.backend.auth import new_token
    from msa.backend.seed import DEMO_OPERATOR, seed_demo

    await store.migrate()
    key = args.key or secrets.token_bytes(32)
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
        "operator": DEMO_OPERATOR,
        "operator_token": operator_token,
        "console_login": (await _issue_link(store, DEMO_OPERATOR, 10)).path,
    }
    return print_result(args, result, [f"{key:15} {value}" for key, value in result.items()])


async def _case_add(store: Store, args: argparse.Namespace) -> int:
    from msa.backend.cases import draft_from_json

    try:
        data = json.loads(args.file.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read {args.file}: {error.strerror}") from None
    except ValueError as error:
        raise UsageError(f"{args.file} is not valid JSON: {error}") from None
    draft = draft_from_json(data)
    await store.migrate()
    ids = await store.create_case(draft)
    result = {
        "case_reference": draft.reference,
        "case_id": ids.case_id,
        "person_ids": list(ids.person_ids),
        "created": ids.created,
    }
    verb = "created" if ids.created else "exists already, left as it was:"
    return print_result(
        args, result, [f"case {draft.reference} {verb} ({len(ids.person_ids)} persons)"]
    )


async def _provision(store: Store, args: argparse.Namespace) -> int:
    from msa.backend.auth import hash_token, new_token

    await store.migrate()
    person_id = await person_of(store, args)
    key = args.key or secrets.token_bytes(32)
    phone_token = new_token()
    if args.device_json is not None:
        _check_writable(args.device_json)  # before the database changes, not after
    # The device's key of a new epoch and the phone's token for it: both or neither.
    epoch = await store.provision_device(args.device_id, key, person_id, hash_token(phone_token))
    device_json = {"device_id": args.device_id, "key": key.hex(), "epoch": epoch}
    if args.device_json is not None:
        try:
            write_private(args.device_json, json.dumps(device_json) + "\n")
        except OSError as error:
            raise UsageError(
                f"cannot write {args.device_json}: {error.strerror}; the device is registered "
                f"with key epoch {epoch}: run the same command again to issue a new one"
            ) from None
    result = {
        "case_reference": args.case,
        "device_id": f"{args.device_id:08x}",
        "epoch": epoch,
        "key": key.hex(),
        "phone_token": phone_token,
        "device_json": device_json,
    }
    lines = [
        f"device {args.device_id:08x} registered for person {args.person} of case {args.case}",
        f"key epoch    {epoch}   (frames of earlier epochs are still taken, with their tokens)",
        f"phone token  {phone_token}   (for the frames of epoch {epoch}; give it to the app)",
        f"button key   {key.hex()}",
    ]
    if args.device_json is not None:
        lines.append(f"device.json  written to {args.device_json}")
    return print_result(args, result, lines)


async def _revoke(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    done = await store.revoke_device(args.device_id, args.reason)
    device = f"{args.device_id:08x}"
    if done is None:
        raise UsageError(f"no device {device}: check the id (msa backend provision made it)")
    result = {
        "device_id": device,
        "epoch": done.epoch,
        "reason": done.reason,
        "revoked_now": done.revoked_now,
    }
    if done.revoked_now:
        line = (
            f"device {device} marked {done.reason}: its key {done.epoch} is revoked; its frames "
            "are refused from now on and each is shown to the CIC as a security event"
        )
    else:
        line = f"device {device} was revoked already ({done.reason}, key {done.epoch}): unchanged"
    lines = [line]
    if done.revoked_now:
        lines.append(
            "a replacement: msa provision a new board under the same --device-id (a new "
            "key epoch); the case's history stays"
        )
    return print_result(args, result, lines)


async def _magistrate(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    if not await store.inventory_counts(args.district):
        raise UsageError(
            f"no judicial district {args.district!r}: it exists once a case (msa backend "
            "case-add) or a button (msa inventory add) is in it"
        )
    await store.set_magistrate_email(args.district, args.email)
    result = {"district": args.district, "magistrate_email": args.email}
    return print_result(args, result, [f"{args.district}: the magistrate is {args.email}"])


def _check_writable(path: Path) -> None:
    """UsageError unless a file can be written at `path` (tried for real, then removed)."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder: give the path of the device.json to write")
    try:
        probe = path.with_name(f".{path.name}.{secrets.token_hex(4)}.probe")
        write_private(probe, "")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}; nothing was registered") from None


async def _operator_add(store: Store, args: argparse.Namespace) -> int:
    from msa.backend.auth import hash_token, new_token

    if (args.role in BY_ZONE) != (args.zone is not None):
        raise UsageError("--zone goes with --role zone_officer, and only with it")
    if (args.role in BY_DISTRICT) != (args.district is not None):
        raise UsageError("--district goes with --role magistrate or victim_support, and only them")
    await store.migrate()
    token = new_token()
    await store.add_operator(args.name, hash_token(token), args.role, args.zone, args.district)
    link = await _issue_link(store, args.name, args.minutes)
    result = {
        "operator": args.name,
        "role": args.role,
        "token": token,
        **_link_fields(link, args.public_url),
    }
    lines = [
        f"operator     {args.name}",
        f"token        {token}   (for scripts: Authorization: Bearer …)",
        *_link_lines(link, args.public_url),
    ]
    return print_result(args, result, lines)


async def _login_link(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    link = await _issue_link(store, args.name, args.minutes)
    result = {"operator": args.name, **_link_fields(link, args.public_url)}
    return print_result(args, result, _link_lines(link, args.public_url))


async def _issue_link(store: Store, name: str, minutes: int) -> LoginLink:
    from msa.backend.login import MAX_LINK_MINUTES, issue_login_link
    from msa.backend.store.sessions import session_store

    if not 1 <= minutes <= MAX_LINK_MINUTES:
        raise UsageError(f"--minutes {minutes}: a link works 1 to {MAX_LINK_MINUTES} minutes")
    link = await issue_login_link(session_store(store), name, minutes)
    if link is None:
        raise UsageError(f"no operator {name!r}: add one first (msa backend operator-add NAME)")
    return link


def _link_fields(link: LoginLink, public_url: str) -> dict[str, str]:
    from msa.timefmt import to_iso

    return {
        "login_url": public_url + link.path,
        "login_path": link.path,
        "expires_at": to_iso(link.expires_at),
    }


def _link_lines(link: LoginLink, public_url: str) -> list[str]:
    from msa.timefmt import to_iso

    return [
        f"log-in link  {public_url + link.path}",
        f"             works once, until {to_iso(link.expires_at)}; open it in the console's "
        "browser",
    ]


def _kek_new(args: argparse.Namespace) -> int:
    kek = new_kek_file(args.path)
    result = {"kek_file": str(args.path), "kek_id": kek.id}
    line = f"KEK {kek.id} written to {args.path} (mode 0600); keep it apart from backups"
    return print_result(args, result, [line])


def _serve(args: argparse.Namespace) -> int:
    from msa.backend.notify import SmtpConfig
    from msa.backend.server import serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0 to 65535)")
    smtp = SmtpConfig.parse(args.smtp, args.mail_from) if args.smtp else None
    tls = _tls(args.tls_cert, args.tls_key)
    kek = require_kek(load_kek(args.kek_file))
    # Migrate first: a database that cannot be reached, or whose keys are under
    # another KEK, is one clear line, not a traceback.
    asyncio.run(with_store(args.db, _migrate_quietly, kek))
    served = serve(
        args.db,
        host=args.host,
        port=args.port,
        access_log=args.access_log,
        smtp=smtp,
        kek=kek,
        tls=tls,
        forwarded_allow_ips=args.forwarded_allow_ips,
        public_url=args.public_url,
        tiles=args.tiles,
        lease_s=args.lease_s,
    )
    if not served:
        raise MsaError(f"could not listen on {args.host}:{args.port} (see the log above)")
    return 0


def _tls(cert: Path | None, key: Path | None) -> Tls | None:
    """The certificate and key, checked now: a bad file is one clear line."""
    import ssl

    from msa.backend.server import Tls

    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UsageError("HTTPS needs both --tls-cert FILE and --tls-key FILE")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except FileNotFoundError as error:
        raise UsageError(f"cannot read {error.filename}: no such file") from None
    except (OSError, ssl.SSLError) as error:
        raise UsageError(f"cannot use {cert} with {key} for HTTPS: {error}") from None
    return Tls(str(cert), str(key))


async def _migrate_quietly(store: Store) -> int:
    await store.migrate()
    return 0
