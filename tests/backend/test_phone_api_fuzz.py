"""Every phone-facing endpoint fuzzed from the published OpenAPI description
(Schemathesis generates valid and invalid requests, with the phone's token, to a
real `msa backend serve`): no 5xx, every answer as described, invalid input
refused, and nothing stored that is not valid."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from msa.backend.keys import Kek
from msa.backend.openapi import document
from msa.backend.store import sqlite_path
from tests.backend.conftest import Server, seed_database, start_server
from tests.backend.util import PHONE

PHONE_OPERATIONS = "^/api/v1/(frames|link-reports|check-ins|alarms/\\{alarm_id\\}/locations)$"
EARLIEST_MS = 1_577_836_800_000  # 2020-01-01, SPEC §7.3
schema = schemathesis.openapi.from_dict(document()).include(path_regex=PHONE_OPERATIONS)


@schemathesis.check
def no_server_error(ctx, response, case) -> None:
    """No 5xx, but the one the SPEC gives a frame of a newer version (§7: 501
    `unsupported_version`, which the phone keeps and retries)."""
    if response.status_code < 500:
        return
    newer = response.status_code == 501 and response.json().get("error") == "unsupported_version"
    assert newer, f"server error {response.status_code}: {response.text[:300]}"


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('openapi')}/msa.db"


@pytest.fixture(scope="module")
def live(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, kek: Kek, kek_file: Path
) -> Iterator[Server]:
    asyncio.run(seed_database(database_url, kek))
    log = Path(tmp_path_factory.mktemp("openapi-log")) / "backend.log"
    running = start_server(database_url, log, kek_file)
    yield running
    running.stop()


def test_the_fuzzed_operations_are_every_phone_operation():
    phone = {
        path
        for path, operations in document()["paths"].items()
        for operation in operations.values()
        if "phone" in operation.get("tags", ())
    }
    assert phone == {
        "/api/v1/frames",
        "/api/v1/link-reports",
        "/api/v1/check-ins",
        "/api/v1/alarms/{alarm_id}/locations",
    }
    assert {result.ok().path for result in schema.get_all_operations()} == phone


def stored_nothing_invalid(database: str) -> Callable[..., None]:
    """After each generated request: no frame stored (none can carry a valid MAC),
    and no link report whose times break SPEC §7.3 (earliest 2020, on after off)."""

    def check(ctx, response, case) -> None:
        with contextlib.closing(sqlite3.connect(database)) as db:
            frames, alarms, invalid = db.execute(
                "SELECT (SELECT count(*) FROM frames), (SELECT count(*) FROM alarms),"
                " (SELECT count(*) FROM link_reports WHERE on_at < off_at OR off_at < ?)",
                (EARLIEST_MS,),
            ).fetchone()
        assert frames == 0 and alarms == 0, f"{response.status_code} stored a frame or alarm"
        assert invalid == 0, f"{response.status_code} stored a link report out of time"

    return check


@schema.parametrize()
def test_every_phone_operation_behaves_as_described(case, live: Server, database_url: str):
    database = sqlite_path(database_url)
    assert database is not None
    checks = [*CHECKS, stored_nothing_invalid(database)]
    case.call_and_validate(base_url=live.url, headers=dict(PHONE), checks=checks)
