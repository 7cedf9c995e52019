"""The store on both engines: commit outcomes, races, provisioning, confidentiality."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from msa.backend.alarms import alarm_event
from msa.backend.auth import hash_token
from msa.backend.store import StoreUnavailable
from msa.backend.store.base import Address, CaseDraft, NewAlarm, NewFrame, PersonDraft
from msa.backend.store.sqlite import SqliteStore
from protocol import frame
from tests.backend.conftest import seed
from tests.backend.util import DEVICE_ID, PHONE_TOKEN, signed


async def new_frame(store, counter, raw=None, alarm=True):
    context = await store.ingest_context(hash_token(PHONE_TOKEN), DEVICE_ID)
    return alarm_frame(counter, context, raw, alarm)


def alarm_frame(counter, context, raw=None, alarm=True):
    """The frame `counter` of the seeded device, under its phone's `context`."""
    raw = raw or signed(counter)
    return NewFrame(
        device_id=DEVICE_ID,
        counter=counter,
        type=frame.ALARM,
        raw=raw,
        time_s=0,
        battery_mv=3000,
        uptime_s=None,
        phone_id=context.phone_id,
        received_at=1,
        location=None,
        alarm=NewAlarm("alarm", context.person_id, context.case_id, None) if alarm else None,
    )


async def test_commit_outcomes(store):
    await seed(store)
    committed = await store.commit_frame(await new_frame(store, 1))
    assert committed.outcome == "committed" and committed.alarm_id is not None
    again = await store.commit_frame(await new_frame(store, 1))
    assert (again.outcome, again.frame_id, again.alarm_id) == (
        "duplicate",
        committed.frame_id,
        committed.alarm_id,
    )
    assert again.committed_at == committed.committed_at
    other = await store.commit_frame(await new_frame(store, 1, raw=signed(1, battery_mv=1)))
    assert other.outcome == "counter_reused"
    counts = await store.counts()
    assert (counts["frames"], counts["alarms"]) == (1, 1)


async def test_racing_commits_of_one_frame_store_one_row(store):
    await seed(store)
    frames = [await new_frame(store, 9) for _ in range(8)]
    outcomes = await asyncio.gather(*(store.commit_frame(f) for f in frames))
    assert sorted(o.outcome for o in outcomes) == ["committed"] + ["duplicate"] * 7
    counts = await store.counts()
    assert (counts["frames"], counts["alarms"]) == (1, 1)


async def test_a_confidential_person_is_shown_by_national_register_number(store):
    ids = await store.create_case(
        CaseDraft(
            reference="AN.12.L3.000777/26",
            decided_on="2026-09-01",
            managing_zone="PZ Antwerpen",
            judicial_district="Antwerpen",
            persons=(
                PersonDraft(
                    "Nora Peeters",
                    "+32 478 00 00 00",
                    "85.02.03-222.86",
                    confidential=True,
                    addresses=(Address("home", "kept by the police"),),
                ),
            ),
        )
    )
    await store.register_device(DEVICE_ID, bytes(range(32)), ids.person_ids[0])
    await store.link_phone(hash_token(PHONE_TOKEN), ids.person_ids[0], DEVICE_ID)
    commit = await store.commit_frame(await new_frame(store, 1))
    alarm = await store.alarm(commit.alarm_id)
    person = alarm_event(alarm)["person"]
    assert person["confidential"] is True
    assert (person["name"], person["phone_number"]) == (None, None)
    assert person["national_register_number"] == "85.02.03-222.86"
    assert alarm_event(alarm)["case"]["suspect"] is None


async def test_create_case_is_idempotent_by_reference(store):
    first = await seed(store)
    counts = await store.counts()
    second = await seed(store)
    assert second == {**first, "created": False}
    assert await store.counts() == counts


async def test_a_locked_sqlite_database_is_unavailable_not_an_error(tmp_path, kek):
    path = str(tmp_path / "msa.db")
    store = await SqliteStore.open(path, busy_timeout_ms=50, kek=kek)
    await store.migrate()
    await seed(store)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="locked"):
            await store.commit_frame(await new_frame(store, 1))
        blocker.execute("ROLLBACK")
        assert (await store.commit_frame(await new_frame(store, 1))).outcome == "committed"
    finally:
        blocker.close()
        await store.close()


async def test_an_alarm_names_the_other_protected_persons_of_its_case(store):
    ids = await store.create_case(
        CaseDraft(
            reference="AN.12.L3.000888/26",
            decided_on="2026-09-01",
            managing_zone="PZ Antwerpen",
            judicial_district="Antwerpen",
            persons=(
                PersonDraft("Ann Maes", "+32 478 11 11 11", "80.01.01-001.01"),
                PersonDraft("Tom Maes", "+32 478 22 22 22", "10.02.02-002.02", confidential=True),
                PersonDraft("Eva Maes", "+32 478 33 33 33", "12.03.03-003.03"),
            ),
        )
    )
    await store.register_device(DEVICE_ID, bytes(range(32)), ids.person_ids[0])
    await store.link_phone(hash_token(PHONE_TOKEN), ids.person_ids[0], DEVICE_ID)
    commit = await store.commit_frame(await new_frame(store, 1))
    others = alarm_event(await store.alarm(commit.alarm_id))["case"]["other_persons"]
    assert others == [
        {
            "id": ids.person_ids[1],
            "confidential": True,
            "name": None,
            "phone_number": None,
            "national_register_number": "10.02.02-002.02",
        },
        {
            "id": ids.person_ids[2],
            "confidential": False,
            "name": "Eva Maes",
            "phone_number": "+32 478 33 33 33",
            "national_register_number": None,
        },
    ]


class Refused(Exception):
    pass


def admit_frame(frame_of, asked):
    """An `admit` for commit_alarm that notes the context it was handed."""

    def admit(context):
        asked.append(context)
        if context is None:
            raise Refused("no phone")
        return context, frame_of(context)

    return admit


async def test_commit_alarm_judges_the_phone_and_device_then_commits_once(store):
    await seed(store)
    token = hash_token(PHONE_TOKEN)
    asked: list = []
    context, first = await store.commit_alarm(
        token, DEVICE_ID, admit_frame(lambda c: alarm_frame(3, c), asked)
    )
    assert asked == [await store.ingest_context(token, DEVICE_ID)] == [context]
    assert first.outcome == "committed" and first.alarm_id is not None
    if isinstance(store, SqliteStore):  # read in the commit's own step, as the announcer would
        assert first.alarm == await store.alarm(first.alarm_id)
    _, again = await store.commit_alarm(
        token, DEVICE_ID, admit_frame(lambda c: alarm_frame(3, c), asked)
    )
    assert (again.outcome, again.alarm_id, again.alarm) == ("duplicate", first.alarm_id, None)
    _, reused = await store.commit_alarm(
        token, DEVICE_ID, admit_frame(lambda c: alarm_frame(3, c, signed(3, battery_mv=1)), asked)
    )
    assert reused.outcome == "counter_reused"
    counts = await store.counts()
    assert (counts["frames"], counts["alarms"]) == (1, 1)


async def test_an_alarm_its_admit_refuses_stores_nothing(store):
    await seed(store)
    asked: list = []
    with pytest.raises(Refused):  # an unknown phone: admit is handed None
        await store.commit_alarm(
            hash_token("nobody"), DEVICE_ID, admit_frame(lambda c: alarm_frame(4, c), asked)
        )
    assert asked == [None]

    def refuse(context):
        raise Refused("bad MAC")

    with pytest.raises(Refused):
        await store.commit_alarm(hash_token(PHONE_TOKEN), DEVICE_ID, refuse)
    counts = await store.counts()
    assert (counts["frames"], counts["alarms"]) == (0, 0)
    _, later = await store.commit_alarm(  # and the store goes on: no transaction left open
        hash_token(PHONE_TOKEN), DEVICE_ID, admit_frame(lambda c: alarm_frame(4, c), asked)
    )
    assert later.outcome == "committed"
