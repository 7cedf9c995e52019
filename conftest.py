"""Fixtures shared by tests/ and hwtest/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from msa.backend import pgcluster
from msa.errors import NotAvailable


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.PgCluster]:
    """A throwaway PostgreSQL cluster for the session. Without PostgreSQL the test
    skips, unless MSA_REQUIRE_POSTGRES=1 (CI), where it fails."""
    try:
        with pgcluster.cluster() as pg:
            yield pg
    except NotAvailable as error:
        if os.environ.get("MSA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"MSA_REQUIRE_POSTGRES=1, but: {error}")
        pytest.skip(str(error))


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Keep the running test's id in reports/current-test: what .ci/run names when
    the whole run hits its bound."""
    reports = Path(__file__).resolve().parent / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "current-test").write_text(nodeid + "\n")
