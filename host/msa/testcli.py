"""`msa test`: the whole test suite, exactly as CI runs it; the JUnit XML, the HIL
logs and the running test's name in this run's own folder (msa.reports)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from msa import reports

PASS_THROUGH = True
ROOT = Path(__file__).resolve().parents[2]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fast", action="store_true", help="skip tests marked slow (-m 'not slow')"
    )


def run(args: argparse.Namespace) -> int:
    given = os.environ.get("MSA_REPORTS")
    folder = Path(given) if given else reports.new_run_folder()
    folder.mkdir(parents=True, exist_ok=True)
    print(f"msa: reports in {folder}", file=sys.stderr)
    command = [sys.executable, "-m", "pytest", f"--junitxml={folder / 'junit.xml'}"]
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
