"""Fixtures shared by tests/ and hwtest/."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
