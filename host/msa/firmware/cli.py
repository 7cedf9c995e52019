"""`msa firmware`: build the firmware for a board, deploy it to a board over USB.

    msa firmware build --board esp32 --json
    msa firmware deploy --port /dev/ttyUSB0 --board esp32
    msa firmware check                  type-check against MicroPython's ESP32 stubs

Flashing MicroPython itself comes first: docs/flashing.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from boards import image
from msa.firmware.build import Build, build, check_board


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("build", help="precompile the firmware with mpy-cross, laid out as flash")
    _board(p)
    p.add_argument("--out", type=Path, help="the build folder (default: build/BOARD)")
    p.add_argument("--json", action="store_true", help="print the sizes as one JSON object")

    p = sub.add_parser("check", help="type-check the firmware against MicroPython's ESP32 stubs")
    p.add_argument(
        "--board", action="append", help="a board's image to check (default: every board)"
    )

    p = sub.add_parser("deploy", help="copy a build to a board with mpremote, then verify it")
    p.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyUSB0")
    p.add_argument(
        "--board", help=f"one of: {', '.join(image.BOARDS)} (default: the build's, else esp32)"
    )
    p.add_argument("--build", type=Path, help="deploy this build folder instead of building")
    p.add_argument(
        "--no-reboot", action="store_true", help="stay in the REPL instead of booting the build"
    )
    p.add_argument("--json", action="store_true", help="print what changed as one JSON object")


def _board(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--board", default="esp32", help=f"one of: {', '.join(image.BOARDS)} (default: esp32)"
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        return _build(args)
    if args.action == "check":
        return _check(args)
    return _deploy(args)


def _check(args: argparse.Namespace) -> int:
    from msa.firmware.typecheck import check

    boards = args.board or list(image.BOARDS)
    for board in boards:
        check_board(board)
    failed = 0
    for board in boards:
        with tempfile.TemporaryDirectory(prefix="msa-check-") as scratch:
            findings = check(board, Path(scratch))
        for finding in findings:
            print(f"{finding}  ({board})")
        failed += bool(findings)
        print(f"{board}: {len(findings) or 'no'} finding{'s' if len(findings) != 1 else ''}")
    return 1 if failed else 0


def _build(args: argparse.Namespace) -> int:
    made = build(args.board, args.out or Path("build") / args.board)
    figures = made.figures()
    if args.json:
        print(json.dumps(figures))
        return 0
    for f in made.files:
        mpy = "(source)" if f.mpy_bytes is None else f"{f.mpy_bytes:7d}"
        print(f"{f.path:32} {f.source_bytes:7d} -> {mpy}")
    print(
        f"{figures['compiled']} files for {made.board} ({made.arch}, mpy v{made.mpy_version}): "
        f"{figures['source_bytes']} bytes of source -> {figures['mpy_bytes']} bytes of .mpy "
        f"(ratio {figures['ratio']}); {figures['flash_bytes']} bytes on the flash, in {made.out}"
    )
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from msa.firmware.deploy import deploy

    with tempfile.TemporaryDirectory(prefix="msa-build-") as scratch:
        if args.build is not None:
            made = Build.load(args.build)
            folder = args.build
        else:
            folder = Path(scratch) / (args.board or "esp32")
            made = build(args.board or "esp32", folder)
        report = deploy(args.port, made, folder, board=args.board, reboot=not args.no_reboot)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(report.summary())
    return 0
