"""`msa test`: the whole test suite, exactly as CI runs it; the JUnit XML, the HIL
logs and the running test's name in this run's own folder (msa.reports).

The tests run in two worker processes (pytest-xdist), each taking the next test as
it is free: most of a case's time is a board, a backend or a radio waiting, so two
workers keep two cores busy. `--workers 1` runs them in this one process, in order."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

from msa import reports
from msa.errors import UsageError

PASS_THROUGH = True
WORKERS = 2  # what the suite is run green with, beside a CPU-bound process (docs/qa.md)
MAX_WORKERS = 8
ROOT = Path(__file__).resolve().parents[2]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fast", action="store_true", help="skip tests marked slow (-m 'not slow')"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        metavar="N",
        help=f"test processes side by side, 1 to {MAX_WORKERS} (%(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(f"--workers {args.workers}: from 1 to {MAX_WORKERS}")
    given = os.environ.get("MSA_REPORTS")
    folder = Path(given) if given else reports.new_run_folder()
    folder.mkdir(parents=True, exist_ok=True)
    print(f"msa: reports in {folder}", file=sys.stderr)
    command = [sys.executable, "-m", "pytest", f"--junitxml={folder / 'junit.xml'}"]
    if args.workers > 1:
        command += ["-n", str(args.workers), "--dist", "worksteal"]
    if args.fast:
        command += ["-m", "not slow"]
    command += args.extra
    return subprocess.call(command, cwd=ROOT, env={**os.environ, "MSA_REPORTS": str(folder)})


# CI's rules for the run it starts, not for a run a test starts inside it.
OUTER_ONLY = ("MSA_NO_SKIPS", "MSA_REPORTS")


def nested_env(**extra: str) -> dict[str, str]:
    """The environment for a pytest run that a test starts and checks: its skips are
    the result under test, and its reports are its own."""
    env = {k: v for k, v in os.environ.items() if k not in OUTER_ONLY}
    return {**env, **extra}


async def start_nested_pytest(*args: str, logs: Path) -> asyncio.subprocess.Process:
    """pytest on this repository as a test's child (dies with it), quiet, with every
    outcome listed (-rA), its HIL logs in `logs`, its output piped to stdout."""
    from msa import children

    return await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *args],
        *["--hil-logs", str(logs)],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
        env=nested_env(),
        preexec_fn=children.preexec(),
    )
