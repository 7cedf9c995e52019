"""Run a benchmark's measurement on SQLite, PostgreSQL or both (`--db`)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from msa.backend import pgcluster
from msa.errors import NotAvailable

Measure = Callable[[str, Path], Awaitable[dict[str, Any]]]


def per_engine(choice: str, name: str, measure: Measure) -> dict[str, Any]:
    """`measure(database_url, folder)` on each engine `choice` names ("sqlite",
    "postgres", "both"); an engine that is absent is reported as such, never faked."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="msa-bench-") as folder:
        if choice in ("sqlite", "both"):
            url = f"sqlite:///{folder}/{name}.db"
            figures["sqlite"] = asyncio.run(measure(url, Path(folder)))
        if choice in ("postgres", "both"):
            try:
                with pgcluster.cluster() as pg:
                    url = pg.create_database(name)
                    figures["postgres"] = asyncio.run(measure(url, Path(folder)))
            except NotAvailable as error:
                figures["postgres"] = f"not measured: {error}"
    return figures
