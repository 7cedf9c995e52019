"""`msa demo`: the whole chain on this machine, ready to press.

    msa demo                           # prints the CIC console URL; Enter presses the button
    msa demo --headless --presses 20 --json   # one JSON object per alarm, with hop times

Runs the backend on SQLite (or --db URL), one emulated board with the real
firmware, the phone's app link on Bumble, and a console client. Each run starts
afresh in --dir (default .msa/demo): new keys, new board, new database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

from boards.emulated.timed_air import AIRS
from msa.app.location import GHENT
from msa.demo.stack import Stack, default_directory
from msa.errors import UsageError

HELP = """
  Enter   press the button (an alarm)
  t       arm the test alarm, then press (the tech desk's test with the CIC)
  cut     cut the board's power and restore it
  q       quit
"""


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="no prompt: press and report")
    parser.add_argument(
        "--presses", type=int, default=1, help="presses in --headless mode (%(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per alarm")
    parser.add_argument("--db", metavar="URL", help="database URL (default: SQLite in --dir)")
    parser.add_argument(
        "--air",
        choices=AIRS,
        default="timed",
        help="timed: the radio link keeps a real link's time, at the board's provisioned "
        "connection parameters (default); instant: packets cross at once",
    )
    parser.add_argument(
        "--dir", type=Path, default=default_directory(), help="work folder (%(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    if args.presses < 1:
        raise UsageError("--presses must be at least 1")
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    # She walks away after the press: the console's trail moves.
    stack = Stack.fresh(args.dir, args.db, air=args.air, location=GHENT.walking())
    say = _stderr if args.json else print
    say(f"msa demo: starting in {args.dir} ...")
    try:
        await stack.start()
        say(f"msa demo: CIC console   {stack.console_url}")
        say(
            "msa demo:   (the link works once, for 10 minutes; another: msa backend "
            f"login-link {stack.credentials['operator']} --db {stack.database_url})"
        )
        say(f"msa demo: button        {stack.board.address if stack.board else '?'}")
        say(f"msa demo: case          {stack.credentials['case_reference']}")
        if args.headless:
            await _headless(stack, args)
        else:
            await _interactive(stack)
    finally:
        await stack.stop()
    return 0


async def _headless(stack: Stack, args: argparse.Namespace) -> None:
    latencies = []
    for number in range(1, args.presses + 1):
        alarm = await stack.press()
        report = {"alarm": number, "air": args.air, **alarm.report()}
        latencies.append(report["latency_ms"])
        if args.json:
            print(json.dumps(report), flush=True)
        else:
            print(
                f"alarm {number}: counter {alarm.counter}, {report['latency_ms']:.1f} ms",
                flush=True,
            )
    median = statistics.median(latencies)
    _stderr(f"msa demo: {len(latencies)} alarms, median press -> console {median:.1f} ms")


async def _interactive(stack: Stack) -> None:
    assert stack.board is not None
    print(HELP)
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:  # no terminal (stdin closed): serve until Ctrl-C
            await asyncio.Event().wait()
        command = line.strip().lower()
        if command in ("q", "quit", "exit"):
            return
        if command == "cut":
            await stack.board.power_cut()
            await stack.board.power_on()
            print("power restored")
            continue
        if command == "t":  # the tech desk arms, then makes the test gesture
            await stack.arm_test_alarm()
            alarm = await stack.gesture(stack.board.test_gesture())
        else:
            alarm = await stack.press()
        latency = alarm.report()["latency_ms"]
        print(f"{alarm.kind} {alarm.counter} on the console after {latency:.1f} ms")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
