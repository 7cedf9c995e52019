"""Fixtures shared by tests/ and hwtest/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from msa.backend import pgcluster
from msa.backend.keys import Kek, kek_at
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


@pytest.fixture(scope="session")
def kek_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' key-encryption key file (0600), made once a session: give it to
    every backend a test starts (`--kek-file`), and `kek` to every store it opens."""
    path = tmp_path_factory.mktemp("kek") / "kek"
    kek_at(path)
    return path


@pytest.fixture(scope="session")
def kek(kek_file: Path) -> Kek:
    """The KEK in `kek_file`."""
    return kek_at(kek_file)


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Keep the running test's id in reports/current-test: what .ci/run names when
    the whole run hits its bound."""
    reports = Path(__file__).resolve().parent / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "current-test").write_text(nodeid + "\n")
