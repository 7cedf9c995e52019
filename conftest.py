"""Fixtures shared by tests/ and hwtest/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from msa import reports
from msa.backend import pgcluster
from msa.backend.keys import Kek, kek_at
from msa.errors import NotAvailable


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.PgCluster]:
    """A throwaway PostgreSQL cluster for the session. Without PostgreSQL the test
    skips, unless MSA_REQUIRE_POSTGRES=1 (CI), where it fails."""
    yield from _cluster()


@pytest.fixture
def pg_cluster_of_its_own() -> Iterator[pgcluster.PgCluster]:
    """A cluster for one test, which may crash it or change its settings; skips or
    fails as `pg_cluster` does."""
    yield from _cluster()


def _cluster() -> Iterator[pgcluster.PgCluster]:
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
    """Keep the running test's id in the run's current-test (msa.reports): what
    .ci/run names when the whole run hits its bound."""
    folder = reports.run_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "current-test").write_text(nodeid + "\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """With MSA_NO_SKIPS=1 (CI) a skip is a failure: CI runs every case, and a case
    that skips there (a missing browser, server or tool) has tested nothing."""
    report: pytest.TestReport = yield
    if report.skipped and os.environ.get("MSA_NO_SKIPS") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but MSA_NO_SKIPS=1 (CI runs every case): {reason}"
    return report


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow HIL cases first, the longest (`slow(seconds=…)`) before the others: with
    two workers, a minute-long case that starts last ends the run alone; started
    first, the short cases fill the other worker. Only hwtest's (function-scoped
    chains) move: tests/browser keeps its module together."""
    slow = sorted((item for item in items if _moves_first(item)), key=_seconds, reverse=True)
    if slow:
        first = set(map(id, slow))
        items[:] = slow + [item for item in items if id(item) not in first]


def _seconds(item: pytest.Item) -> float:
    """What a slow case expects to take (`@pytest.mark.slow(seconds=80)`), 0 if unsaid."""
    marker = item.get_closest_marker("slow")
    return float(marker.kwargs.get("seconds", 0)) if marker is not None else 0.0


def _moves_first(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None and item.nodeid.startswith("hwtest/")
