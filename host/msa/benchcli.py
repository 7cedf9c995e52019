"""`msa bench NAME`: run one benchmark from bench/ and print its figures.

    msa bench latency --json        press -> console latency over 200 presses (timed air)
    msa bench tradeoff --json       connection interval x latency -> p99 and battery days
    msa bench heap --json           the firmware's heap high-water mark
    msa bench battery --json        radio events per hour idle, battery life per board
    msa bench burst --json          alarm bursts to several consoles: latency, consoles dropped
    msa bench failover --json       a backend node killed under load: alarms lost, doubled, delayed

A benchmark is a module `bench/NAME.py` with `add_arguments(parser)` and
`run(args) -> dict`. It prints one JSON object `{"bench": NAME, ...figures}`
(units in the keys); without --json, one figure a line. A figure that needs
something absent is reported as such, never made up.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil

import bench
from msa.errors import UsageError

PASS_THROUGH = True  # the benchmark's own options go to its parser
OWN_HELP = True  # `msa bench NAME --help` shows that benchmark's options


def available() -> list[str]:
    modules = pkgutil.iter_modules(bench.__path__)
    return sorted(m.name for m in modules if not m.name.startswith("_"))


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help=f"one of: {', '.join(available())}")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "-h", "--help", action="store_true", help="this help; after NAME, that benchmark's options"
    )
    parser.set_defaults(parser=parser)


def bench_parser(name: str, module: object) -> argparse.ArgumentParser:
    """The benchmark's own options, with --json, as `msa bench NAME --help` shows them."""
    summary = (getattr(module, "__doc__", None) or "").strip().splitlines()
    parser = argparse.ArgumentParser(
        prog=f"msa bench {name}",
        description=summary[0] if summary else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    module.add_arguments(parser)  # type: ignore[attr-defined]
    return parser


def run(args: argparse.Namespace) -> int:
    if args.name is None:
        args.parser.print_help()
        return 0 if args.help else 2
    if args.name not in available():
        raise UsageError(f"no benchmark {args.name!r}; one of: {', '.join(available())}")
    module = importlib.import_module(f"bench.{args.name}")
    parser = bench_parser(args.name, module)
    if args.help:
        parser.print_help()
        return 0
    own = parser.parse_args(args.extra)
    figures = {"bench": args.name, **module.run(own)}
    if args.json or own.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:24} {value}")
    return 0
