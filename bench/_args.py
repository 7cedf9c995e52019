"""Bounds on a benchmark's arguments: refused with a clear error, as JSON."""

from __future__ import annotations

import argparse
from typing import Any


def out_of_bounds(
    args: argparse.Namespace, bounds: tuple[tuple[str, float, float], ...]
) -> dict[str, Any] | None:
    """The error to print for the first argument outside its bounds, or None."""
    for name, low, high in bounds:
        if not low <= getattr(args, name) <= high:
            return {"error": f"--{name} must be from {low:g} to {high:g}"}
    return None
