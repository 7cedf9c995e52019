"""Every phone-facing endpoint fuzzed from the published OpenAPI description
(Schemathesis generates valid and invalid requests, with the phone's token, to a
real `msa backend serve`): no 5xx, every answer as described, invalid input
refused, and nothing stored that is not valid."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
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
from msa.backend.store import open_store
from tests.backend.conftest import Server, count_rows, seed_database, start_server
from tests.backend.util import PHONE

PHONE_OPERATIONS = "^/api/v1/(frames|link-reports|check-ins|alarms/\\{alarm_id\\}/locations)$"
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


@schema.parametrize()
def test_every_phone_operation_behaves_as_described(case, live: Server):
    case.call_and_validate(base_url=live.url, headers=dict(PHONE), checks=CHECKS)


def test_the_generated_requests_stored_nothing_invalid(live: Server, database_url: str):
    counts = asyncio.run(count_rows(database_url))
    # No generated frame can carry a valid MAC: not one may have been stored.
    assert counts["frames"] == 0 and counts["alarms"] == 0
    invalid = asyncio.run(_invalid_reports(database_url))
    assert invalid == 0


async def _invalid_reports(database_url: str) -> int:
    store = await open_store(database_url)
    try:
        async with store._connection() as conn:  # noqa: SLF001 (a test reads the tables)
            rows = await conn.fetch(
                "SELECT count(*) AS n FROM link_reports WHERE on_at < off_at OR off_at < $1",
                1577836800000,  # 2020-01-01
            )
    finally:
        await store.close()
    return int(rows[0]["n"])
