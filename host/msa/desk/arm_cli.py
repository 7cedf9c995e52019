"""`msa arm-test --port PORT [--minutes 15] [--json]`: arm the button's test alarm
for the test call with the CIC (msa/desk/arm.py, docs/tech-desk.md)."""

from __future__ import annotations

import argparse
import asyncio

from msa.cliargs import add_port, print_result
from msa.desk.arm import MAX_MINUTES, arm_test_alarm
from msa.timefmt import to_iso


def register(parser: argparse.ArgumentParser) -> None:
    add_port(parser)
    parser.add_argument("--minutes", type=int, default=15, help=f"1 to {MAX_MINUTES} (%(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    until = asyncio.run(asyncio.to_thread(arm_test_alarm, args.port, args.minutes))
    result = {"port": args.port, "armed_until": to_iso(until * 1000)}
    line = (
        f"test alarm armed on {args.port} until {result['armed_until']}: once the phone "
        "has linked again, the test gesture (2 s still, hold 3 to 6 s, two taps) sends "
        "a TEST ALARM; any other press is a real alarm"
    )
    return print_result(args, result, [line])
