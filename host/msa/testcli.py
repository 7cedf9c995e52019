"""`msa test`: the whole test suite, exactly as CI runs it; JUnit XML in reports/."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

PASS_THROUGH = True
ROOT = Path(__file__).resolve().parents[2]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fast", action="store_true", help="skip tests marked slow (-m 'not slow')"
    )


def run(args: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "pytest", f"--junitxml={ROOT / 'reports' / 'junit.xml'}"]
    if args.fast:
        command += ["-m", "not slow"]
    command += args.extra
    return subprocess.call(command, cwd=ROOT, env=os.environ.copy())
