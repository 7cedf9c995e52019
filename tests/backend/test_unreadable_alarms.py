"""No single record takes the console down: an alarm whose stored rows cannot be
displayed becomes an error card, on the stream, in its own read and in a workflow
step's answer, and every other alarm still streams live.

Each case writes an extreme row straight into the database of a running backend
(what a phone could once store, or what a bad migration or hand edit leaves).
PostgreSQL checks that the text it stores is UTF-8, so a row that fails to
decode at all exists on SQLite only.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

import asyncpg
import httpx
import pytest
from jsonschema import Draft202012Validator

from msa.backend.store import sqlite_path
from msa.backend.store.base import Alarm, UnreadableAlarm
from tests.backend.contract import DOCUMENT_URI, Contract
from tests.backend.util import OPERATOR, PHONE, EventStream, body, signed

STREAM = "/api/v1/console/stream"
YEAR_10000_MS = 253402300800000  # 10000-01-01T00:00:00Z, one past what ISO 8601 writes
OF_ALARM = "(SELECT frame_id FROM alarms WHERE id = {alarm})"

EXTREME_ROWS = {
    "a trail fix past year 9999": "INSERT INTO alarm_locations"
    " (alarm_id, phone_id, lat, lon, accuracy_m, fix_at, received_at)"
    f" SELECT {{alarm}}, id, 51.05, 3.72, 5, {YEAR_10000_MS}, 1795000000000 FROM phones",
    "received in year 10000": f"UPDATE frames SET received_at = {YEAR_10000_MS}"
    f" WHERE id = {OF_ALARM}",
    # SQLite keeps the text in the REAL column (the alarm does not load);
    # PostgreSQL reads it as a float NaN (the alarm does not make JSON).
    "a latitude that is not a number": f"UPDATE frames SET lat = 'NaN' WHERE id = {OF_ALARM}",
}
UNDECODABLE = "UPDATE alarms SET pv_number = CAST(x'ff' AS TEXT) WHERE id = {alarm}"


async def write_raw(database_url: str, sql: str) -> None:
    """Run one statement straight on the database, beside the backend."""
    path = sqlite_path(database_url)
    if path is not None:
        with closing(sqlite3.connect(path, isolation_level=None, timeout=10)) as db:
            db.execute(sql)
        return
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def press(client: httpx.AsyncClient, counter: int) -> int:
    response = await client.post("/api/v1/frames", json=body(signed(counter)), headers=PHONE)
    assert response.status_code == 200, response.text
    return response.json()["alarm_id"]


def assert_card(event: dict, alarm_id: int) -> None:
    assert event["alarm_id"] == alarm_id
    assert event["display_error"]
    assert event["headline"] == f"STALKING ALARM {alarm_id} – CANNOT BE DISPLAYED"
    assert (event["kind"], event["device_id"], event["case_id"]) == ("alarm", "00c0ffee", 1)
    assert "duty technician" in event["advice"] and "case 1" in event["advice"]


# PostgreSQL refuses text that is not UTF-8: that case is SQLite's alone.
@pytest.mark.parametrize(
    "extreme",
    [*EXTREME_ROWS, pytest.param("text that is not UTF-8", marks=pytest.mark.sqlite_only)],
)
async def test_an_alarm_that_cannot_be_displayed_is_a_card_and_the_others_stream(
    server, database_url, extreme
):
    if extreme in EXTREME_ROWS:
        statement = EXTREME_ROWS[extreme]
    else:
        statement = UNDECODABLE
    contract = Contract()
    event_schema = Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/components/schemas/AlarmEvent"},
        registry=contract.registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    hooks = {"response": [contract.on_response]}
    async with httpx.AsyncClient(base_url=server.url, timeout=10, event_hooks=hooks) as client:
        good, broken = await press(client, 1), await press(client, 2)
        await write_raw(database_url, statement.format(alarm=broken))

        async with client.stream("GET", STREAM, headers=OPERATOR) as response:
            assert response.status_code == 200
            stream = EventStream(response)
            backlog = {event["alarm_id"]: event for event in await stream.until_ready()}
            assert sorted(backlog) == [good, broken]
            assert "display_error" not in backlog[good]
            assert backlog[good]["person"]["name"] == "Sarah Claes"
            assert_card(backlog[broken], broken)

            after = await press(client, 3)
            name, live = await stream.next()
            assert (name, live["alarm_id"]) == ("alarm", after)
            assert "display_error" not in live

            read = await client.get(f"/api/v1/alarms/{broken}", headers=OPERATOR)
            assert read.status_code == 200
            assert_card(read.json(), broken)
            if extreme != "text that is not UTF-8":  # that row fails the step's own read
                step = await client.post(
                    f"/api/v1/alarms/{broken}/acknowledge", json={}, headers=OPERATOR
                )
                assert step.status_code == 200, step.text
                assert step.json()["result"] == "done"
                assert_card(step.json()["alarm"], broken)
                assert step.json()["alarm"]["status"] == "acknowledged"
                name, update = await stream.next()
                assert (name, update["change"]) == ("update", "acknowledge")
                assert_card(update, broken)
                backlog[broken] = update
            for event in (*backlog.values(), live):
                assert not list(event_schema.iter_errors(event)), event
    log = server.log.read_text()
    assert f"alarm {broken} cannot be displayed" in log
    assert "Traceback" not in log


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "statement",
    [UNDECODABLE, EXTREME_ROWS["a latitude that is not a number"]],
    ids=["text that is not UTF-8", "text in a REAL column"],
)
async def test_a_row_that_does_not_load_fails_its_alarm_alone(backend, database_url, statement):
    """SQLite stores any value in any column: a text that is not UTF-8 fails the
    statement that reads it (the store then loads each alarm alone), a text where
    a number belongs fails the alarm's mapping. Either way the others load.
    (PostgreSQL stores neither.)"""
    ids = [await press(backend.client, counter) for counter in (1, 2, 3)]
    await write_raw(database_url, statement.format(alarm=ids[1]))

    for loaded in (await backend.store.open_alarms(), await backend.store.alarms(ids)):
        assert [alarm.id for alarm in loaded] == ids
        first, broken, last = loaded
        assert isinstance(first, Alarm) and isinstance(last, Alarm)
        assert isinstance(broken, UnreadableAlarm)
        assert (broken.kind, broken.status, broken.device_id) == ("alarm", "open", 0x00C0FFEE)
        assert (broken.person_id, broken.case_id, broken.revision) == (1, 1, 0)
        assert broken.error.split(":")[0] in ("OperationalError", "TypeError")
    assert isinstance(await backend.store.alarm(ids[1]), UnreadableAlarm)
