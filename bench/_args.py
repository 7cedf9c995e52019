"""Bounds on a benchmark's arguments: refused with a clear error, as JSON."""

from __future__ import annotations

import argparse
from typing import Any

from boards.emulated.timed_air import AIRS


def out_of_bounds(
    args: argparse.Namespace, bounds: tuple[tuple[str, float, float], ...]
) -> dict[str, Any] | None:
    """The error to print for the first argument outside its bounds, or None."""
    for name, low, high in bounds:
        if not low <= getattr(args, name) <= high:
            return {"error": f"--{name} must be from {low:g} to {high:g}"}
    return None


def add_air(parser: argparse.ArgumentParser, timed: str, instant: str) -> None:
    """`--air timed|instant` (default timed), each said in the bench's own terms."""
    parser.add_argument(
        "--air", choices=AIRS, default="timed", help=f"timed: {timed}; instant: {instant}"
    )
