"""Supervision (msa/backend/supervision.py, store/supervision.py) on both engines:
each condition raises its event at the first sweep after it became true, with no
report needed, and ends once it is over; one event per condition however often it
is swept; the zone's officer (and, for a watched case, the CIC) acknowledges, nobody
else; raises, acknowledgements and ends go into the case's evidence."""

from __future__ import annotations

import datetime as dt

import pytest

from msa.backend.auth import hash_token
from msa.backend.daily_report import BRUSSELS
from msa.backend.evidence import broken
from msa.backend.roles import ZONE_OFFICER
from msa.backend.seed import DEMO_CASE
from msa.backend.store import supervision as store_supervision
from msa.backend.supervision import Event, Liveness, Rules, findings
from msa.backend.supervision_page import render
from msa.timefmt import now_ms, to_iso
from protocol import frame
from tests.backend.util import DEVICE_ID, KEY, OPERATOR, PHONE, TIME_S, body

S = 1000  # ms
GENT = {"Authorization": "Bearer zone-officer-of-gent"}
LOCHRISTI = {"Authorization": "Bearer zone-officer-of-lochristi"}
EVENTS = "/api/v1/supervision"


@pytest.fixture
async def officers(backend):
    store = backend.store
    await store.add_operator(
        "ref-gent", hash_token("zone-officer-of-gent"), ZONE_OFFICER, "PZ Gent"
    )
    await store.add_operator(
        "ref-lochristi", hash_token("zone-officer-of-lochristi"), ZONE_OFFICER, "PZ Lochristi"
    )


async def provisioned_at(backend) -> int:
    async with backend.store._reading() as conn:  # noqa: SLF001 (the test reads the row)
        rows = await conn.fetch("SELECT created_at FROM devices WHERE device_id = $1", DEVICE_ID)
    return int(rows[0]["created_at"])


async def open_kinds(backend) -> dict[str, Event]:
    return {e.kind: e for e in await backend.store.supervision_events() if e.ended_at is None}


def heartbeat(counter: int, *, flags: int = 0, pct: int = 80, waiting: int = 0) -> dict:
    payload = frame.heartbeat_payload(TIME_S, 3900, 3600, pct, flags, waiting, min(waiting, 3))
    return body(frame.sign(KEY, frame.HEARTBEAT, DEVICE_ID, counter, payload))


async def send(backend, data: dict) -> None:
    answer = await backend.client.post("/api/v1/frames", json=data, headers=PHONE)
    assert answer.status_code == 200, answer.text


async def test_a_silent_button_and_phone_are_raised_at_the_first_sweep_past_the_deadline(backend):
    deadline = now_ms()
    # Provisioned the heartbeat interval and the case's grace before the deadline.
    async with backend.store._transaction() as conn:  # noqa: SLF001 (the test sets the past)
        for table in ("devices", "phones"):
            await conn.execute(f"UPDATE {table} SET created_at = $1", deadline - (900 + 600) * S)

    quiet = await backend.sweep(deadline - 1)
    assert quiet.raised == 0 and await open_kinds(backend) == {}

    swept = await backend.sweep(deadline + 30 * S)
    raised = await open_kinds(backend)
    assert set(raised) == {"button_silent", "phone_offline"} and swept.raised == 2
    assert raised["button_silent"].since == deadline
    assert raised["button_silent"].raised_at == deadline + 30 * S
    assert "never" in raised["button_silent"].detail

    await backend.sweep(deadline + 60 * S)  # swept again: still one event each
    assert len(await backend.store.supervision_events()) == 2

    await send(backend, heartbeat(2))  # the button is heard (through its phone)
    ended = await backend.sweep(deadline + 90 * S)
    assert ended.ended == 2 and await open_kinds(backend) == {}
    # Ended but not acknowledged: still listed, as ended.
    assert all(e.ended_at == deadline + 90 * S for e in await backend.store.supervision_events())


async def test_heartbeat_flags_raise_their_events_and_a_clean_heartbeat_ends_them(backend):
    t0 = await provisioned_at(backend)
    flags = frame.STUCK | frame.LOW_BATTERY | frame.RECOVERED | frame.UNRECEIPTED
    await send(backend, heartbeat(5, flags=flags, pct=12, waiting=7))
    await backend.sweep(t0 + 60 * S)
    raised = await open_kinds(backend)
    assert set(raised) == {"button_stuck", "battery_low", "crash_recovered", "frames_waiting"}
    assert "12 %" in raised["battery_low"].detail
    assert "7 frames" in raised["frames_waiting"].detail

    await send(backend, heartbeat(4))  # an older heartbeat, delivered late: changes nothing
    await backend.sweep(t0 + 90 * S)
    assert set(await open_kinds(backend)) == set(raised)

    await send(backend, heartbeat(6))  # the newest says all is well
    await backend.sweep(t0 + 120 * S)
    assert await open_kinds(backend) == {}


@pytest.mark.parametrize("span", [1, 1000])
async def test_a_sweep_keeps_the_newest_heartbeat_within_and_across_spans(
    backend, monkeypatch, span
):
    # The newest heartbeat (7 frames waiting) arrives first, older ones after it: in
    # one fold statement (span 1000) or each in a statement of its own (span 1).
    monkeypatch.setattr(store_supervision, "FOLD_SPAN", span)
    t0 = await provisioned_at(backend)
    await send(backend, heartbeat(9, flags=frame.UNRECEIPTED, waiting=7))
    for counter in (6, 7, 8):
        await send(backend, heartbeat(counter))
    swept = await backend.sweep(t0 + 60 * S)
    assert swept.folded == 4
    assert set(await open_kinds(backend)) == {"frames_waiting"}
    assert "7 frames" in (await open_kinds(backend))["frames_waiting"].detail


async def test_a_battery_low_frame_raises_until_a_heartbeat_reads_above_the_threshold(backend):
    t0 = await provisioned_at(backend)
    low = frame.sign(
        KEY, frame.BATTERY_LOW, DEVICE_ID, 3, frame.battery_low_payload(TIME_S, 3600, 19)
    )
    await send(backend, body(low))
    await backend.sweep(t0 + 60 * S)
    assert set(await open_kinds(backend)) == {"battery_low"}
    await send(backend, heartbeat(4, pct=35))
    await backend.sweep(t0 + 90 * S)
    assert await open_kinds(backend) == {}


async def test_bluetooth_off_is_raised_while_it_lasts_and_ends_with_the_phone_s_report(backend):
    t0 = await provisioned_at(backend)
    off = {"bluetooth_off_at": to_iso(t0 + 5 * S)}
    opened = await backend.client.post("/api/v1/link-reports", json=off, headers=PHONE)
    assert opened.json() == {"status": "committed", "off_ms": None}
    await backend.sweep(t0 + 60 * S)
    raised = await open_kinds(backend)
    assert set(raised) == {"bluetooth_off"} and raised["bluetooth_off"].since == t0 + 5 * S

    back = {**off, "bluetooth_on_at": to_iso(t0 + 65 * S)}
    closed = await backend.client.post("/api/v1/link-reports", json=back, headers=PHONE)
    assert closed.json() == {"status": "committed", "off_ms": 60_000}
    await backend.sweep(t0 + 90 * S)
    assert await open_kinds(backend) == {}


async def test_the_zone_acknowledges_its_own_events_and_the_cic_only_watched_ones(
    backend, officers
):
    t0 = await provisioned_at(backend)
    await send(backend, heartbeat(2, flags=frame.STUCK))
    await backend.sweep(t0 + 60 * S)
    (event,) = await backend.store.supervision_events()
    ack = f"{EVENTS}/{event.id}/acknowledge"
    client = backend.client

    assert (await client.get(EVENTS, headers=GENT)).json()["events"][0]["kind"] == "button_stuck"
    assert (await client.get(EVENTS, headers=LOCHRISTI)).json() == {"events": []}
    assert (await client.get(EVENTS, headers=OPERATOR)).json() == {"events": []}  # not watched

    for headers in (LOCHRISTI, OPERATOR):
        refused = await client.post(ack, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"] == "not_your_event"
    assert (await client.post(f"{EVENTS}/999999/acknowledge", headers=GENT)).status_code == 404
    assert (await backend.store.supervision_events())[0].acknowledged_at is None

    # The zone shows the case to the CIC.
    case_id = backend.seeded["case_id"]
    watch = await client.post(
        f"/api/v1/cases/{case_id}/cic-watch", json={"watch": "yes"}, headers=GENT
    )
    assert watch.status_code == 200 and watch.json()["case"]["cic_watch"] is True
    assert len((await client.get(EVENTS, headers=OPERATOR)).json()["events"]) == 1
    done = await client.post(ack, headers=GENT)
    assert done.json() == {"status": "done", "event_id": event.id}
    again = await client.post(ack, headers=OPERATOR)
    assert again.json()["status"] == "unchanged"
    row = (await client.get(EVENTS, headers=GENT)).json()["events"][0]
    assert row["acknowledged_by"] == "ref-gent" and row["ended_at"] is None

    await send(backend, heartbeat(3))
    await backend.sweep(t0 + 90 * S)
    # Acknowledged and ended: done with, off the lists.
    assert (await client.get(EVENTS, headers=GENT)).json() == {"events": []}

    case = await backend.store.find_case(DEMO_CASE.reference)
    entries, head = await backend.store.evidence(case.case_id)
    actions = [e.body for e in entries if e.kind == "audit"]
    assert [a for a in actions if "supervision." in a] == [
        a
        for a in actions
        if any(f'"supervision.{s}"' in a for s in ("raise", "acknowledge", "end"))
    ]
    assert sum('"supervision.raise"' in a for a in actions) == 1
    assert sum('"supervision.acknowledge"' in a for a in actions) == 1
    assert sum('"supervision.end"' in a for a in actions) == 1
    assert broken(entries, head) is None


async def test_a_zone_officer_has_no_console_and_an_operator_no_zone_page(backend, officers):
    client = backend.client
    assert (await client.get("/api/v1/console/stream", headers=GENT)).status_code == 403
    assert (await client.get("/zone", headers=OPERATOR)).status_code == 403
    page = await client.get("/zone", headers=GENT)
    assert page.status_code == 200 and "Nothing to follow up" in page.text


async def test_a_case_that_is_no_longer_active_is_no_longer_supervised(backend):
    t0 = await provisioned_at(backend)
    await backend.sweep(t0 + 3600 * S)
    assert set(await open_kinds(backend)) == {"button_silent", "phone_offline"}
    async with backend.store._transaction() as conn:  # noqa: SLF001 (until the case workflow)
        await conn.execute("UPDATE cases SET status = 'ended'")
    await backend.sweep(t0 + 3630 * S)
    assert await open_kinds(backend) == {}


async def test_the_case_s_grace_moves_the_deadline(backend):
    t0 = await provisioned_at(backend)
    assert await backend.store.set_case_supervision(DEMO_CASE.reference, 3600, None)
    await backend.sweep(t0 + (900 + 3599) * S)
    assert await open_kinds(backend) == {}
    await backend.sweep(t0 + (900 + 3600) * S)
    assert "button_silent" in await open_kinds(backend)
    assert not await backend.store.set_case_supervision("no-such-case", 60, None)


def test_the_rules_judge_only_what_they_are_given():
    live = Liveness(1, 1, 1, 1, heartbeat_s=60, grace_s=0, watched_since=0, last_frame_at=1_000)
    assert findings(live, 60_999, Rules()) == []
    (silent,) = findings(live, 61_000, Rules())
    assert (silent.kind, silent.since) == ("button_silent", 61_000)
    assert findings(Liveness(1, 1, 1, 1, 60, 0, 0, 1_000, battery_pct=20), 2_000, Rules())[
        0
    ].kind == ("battery_low")


def test_the_zone_page_escapes_what_it_shows():
    hostile = Event(
        7, "button_stuck", 1, None, 1, "<b>REF</b>", "<script>x()</script>", "PZ", 0, 0,
        'a "quote" & <tag>', None, None, None,
    )  # fmt: skip
    text = render([hostile])
    assert "<script>" not in text and "&lt;script&gt;" in text and "<b>" not in text
    assert 'action="/zone/events/7/acknowledge"' in text


async def test_abroad_the_alarm_is_not_active_and_nothing_is_raised(backend):
    t0 = await provisioned_at(backend)
    store = backend.store
    case = await store.case_life_by_id(backend.seeded["case_id"])
    nrn = DEMO_CASE.persons[0].national_register_number
    today = dt.datetime.fromtimestamp(t0 / 1000, BRUSSELS).date()
    stay = await store.add_stay(
        case.reference, nrn, "Rue de la Paix 1, Paris", "FR", today - dt.timedelta(days=1),
        today + dt.timedelta(days=10), today - dt.timedelta(days=20), "test", t0,
    )  # fmt: skip
    assert stay is not None and stay.outcome == "abroad"
    await backend.sweep(t0 + 3600 * S)
    assert await open_kinds(backend) == {}
