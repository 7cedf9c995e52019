"""Where a test run keeps its reports: one folder per run, so that two runs side by
side (a developer's and a bench's, two CI jobs on one machine) never mix their logs.

`msa test` makes reports/run-<UTC time>-<pid>/ (or takes MSA_REPORTS), points
reports/latest at it, and passes it to pytest in MSA_REPORTS; a bare `pytest`
without it writes to reports/ as before."""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"


def run_folder() -> Path:
    """This run's report folder: MSA_REPORTS if set, else reports/."""
    return Path(os.environ.get("MSA_REPORTS") or REPORTS)


def new_run_folder() -> Path:
    """A fresh reports/run-<UTC time>-<pid>/, with reports/latest pointing at it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = REPORTS / f"run-{stamp}-{os.getpid()}"
    folder.mkdir(parents=True)
    latest = REPORTS / "latest"
    staged = REPORTS / f".latest-{os.getpid()}"
    staged.unlink(missing_ok=True)
    staged.symlink_to(folder.name)
    staged.replace(latest)  # atomic: a reader never sees no `latest`
    return folder
