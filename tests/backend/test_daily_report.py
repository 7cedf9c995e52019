"""The zone's daily report (msa/backend/daily_report.py, store/daily_report.py):
its period in Brussels time across month ends, 29 February and both daylight-saving
changes; what it says per person, on both engines; made once per zone and day,
missed days caught up, mailed over a real SMTP exchange; read by the zone's officer
only."""

from __future__ import annotations

import datetime as dt

import pytest

from msa.backend.auth import hash_token
from msa.backend.daily_report import (
    CALL,
    CATCH_UP_DAYS,
    CONSULT,
    Period,
    ReportScheduler,
    due_days,
    period,
    send_instant,
)
from msa.backend.roles import ZONE_OFFICER
from msa.backend.seed import DEMO_CASE
from msa.timefmt import now_ms, to_iso
from protocol import frame
from tests.backend.smtp import Port, mail_server
from tests.backend.test_notify import backend_with_smtp
from tests.backend.util import DEVICE_ID, KEY, PHONE, TIME_S, body, signed

H = 3_600_000
SEVEN = dt.time(7, 0)
UTC = dt.UTC
GENT = {"Authorization": "Bearer officer-gent"}
ANTWERPEN = {"Authorization": "Bearer officer-antwerpen"}


def utc(*parts: int) -> int:
    return round(dt.datetime(*parts, tzinfo=UTC).timestamp() * 1000)


# -- the period, in Brussels time ---------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start", "end", "hours"),
    [
        (dt.date(2026, 11, 26), utc(2026, 11, 25, 6), utc(2026, 11, 26, 6), 24),  # winter: UTC+1
        (dt.date(2026, 7, 1), utc(2026, 6, 30, 5), utc(2026, 7, 1, 5), 24),  # summer: UTC+2
        (dt.date(2026, 3, 29), utc(2026, 3, 28, 6), utc(2026, 3, 29, 5), 23),  # clocks forward
        (dt.date(2026, 10, 25), utc(2026, 10, 24, 5), utc(2026, 10, 25, 6), 25),  # and back
        (dt.date(2026, 3, 1), utc(2026, 2, 28, 6), utc(2026, 3, 1, 6), 24),  # a month's end
        (dt.date(2028, 2, 29), utc(2028, 2, 28, 6), utc(2028, 2, 29, 6), 24),  # a leap day
        (dt.date(2028, 3, 1), utc(2028, 2, 29, 6), utc(2028, 3, 1, 6), 24),  # after it
        (dt.date(2027, 1, 1), utc(2026, 12, 31, 6), utc(2027, 1, 1, 6), 24),  # a year's end
    ],
)
def test_a_report_covers_the_day_before_its_time_to_its_time_in_brussels(day, start, end, hours):
    span = period(day, SEVEN)
    assert (span.start, span.end, span.hours) == (start, end, hours)


def test_a_time_in_the_spring_forward_gap_is_the_instant_after_it():
    # 02:30 does not exist in Brussels on 29 March 2026: read as 03:30 CEST (01:30 UTC).
    assert send_instant(dt.date(2026, 3, 29), dt.time(2, 30)) == utc(2026, 3, 29, 1, 30)
    # 02:30 exists twice on 25 October 2026: the first (CEST, 00:30 UTC).
    assert send_instant(dt.date(2026, 10, 25), dt.time(2, 30)) == utc(2026, 10, 25, 0, 30)


def test_due_days_wait_for_the_time_catch_up_what_was_missed_and_never_repeat():
    since = dt.date(2026, 11, 1)
    before_seven = utc(2026, 11, 26, 5, 59)  # 06:59 in Brussels
    assert due_days(before_seven, SEVEN, since, dt.date(2026, 11, 25)) == []
    assert due_days(utc(2026, 11, 26, 6), SEVEN, since, dt.date(2026, 11, 25)) == [
        dt.date(2026, 11, 26)
    ]
    # Down for three days: the three reports, in order.
    assert due_days(utc(2026, 11, 26, 8), SEVEN, since, dt.date(2026, 11, 23)) == [
        dt.date(2026, 11, 24), dt.date(2026, 11, 25), dt.date(2026, 11, 26)
    ]  # fmt: skip
    # Down for a month: the last week only; and nothing before the schedule began.
    caught = due_days(utc(2026, 11, 26, 8), SEVEN, since, dt.date(2026, 10, 1))
    assert len(caught) == CATCH_UP_DAYS and caught[-1] == dt.date(2026, 11, 26)
    assert due_days(utc(2026, 11, 26, 8), SEVEN, dt.date(2026, 11, 26), None) == [
        dt.date(2026, 11, 26)
    ]
    # Across the spring-forward night: each morning once.
    spring = due_days(utc(2026, 3, 30, 6), SEVEN, dt.date(2026, 3, 28), None)
    assert spring == [dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30)]


# -- what it says, on both engines ----------------------------------------------------


def now_span() -> Period:
    now = now_ms()
    return Period(dt.date.today(), now - H, now + H)


async def gent(store) -> int:
    zone_id = await store.zone_id(DEMO_CASE.managing_zone)
    assert zone_id is not None
    return zone_id


async def test_a_quiet_day_flags_a_phone_that_never_checked_in_and_a_silent_button(backend):
    report = await backend.store.build_report(await gent(backend.store), "PZ Gent", now_span())
    by_name = {line.person: line for line in report.lines}
    assert set(by_name) == {p.full_name for p in DEMO_CASE.persons}
    sarah = by_name[DEMO_CASE.persons[0].full_name]
    assert (
        sarah.device_id == f"{DEVICE_ID:08x}" and sarah.phone == DEMO_CASE.persons[0].phone_number
    )
    assert sarah.irregular == ["phone_offline", "button_silent"] and sarah.todo == CALL
    assert not sarah.alarms and sarah.bluetooth_off_times == 0


async def test_an_alarm_bluetooth_off_and_a_low_battery_are_reported_with_what_to_do(backend):
    client = backend.client
    low = frame.heartbeat_payload(TIME_S, 3600, 60, 15, 0)
    await client.post(
        "/api/v1/frames", json=body(frame.sign(KEY, 3, DEVICE_ID, 2, low)), headers=PHONE
    )
    assert (
        await client.post("/api/v1/frames", json=body(signed(3)), headers=PHONE)
    ).status_code == 200
    now = now_ms()
    off = {
        "bluetooth_off_at": to_iso(now - 40 * 60_000),
        "bluetooth_on_at": to_iso(now - 10 * 60_000),
    }
    assert (await client.post("/api/v1/link-reports", json=off, headers=PHONE)).status_code == 200
    still = {"bluetooth_off_at": to_iso(now - 5 * 60_000)}  # off until the period's end
    assert (await client.post("/api/v1/link-reports", json=still, headers=PHONE)).status_code == 200
    checked = await client.post("/api/v1/check-ins", json={"at": to_iso(now)}, headers=PHONE)
    assert checked.status_code == 200
    span = Period(dt.date.today(), now - H, now + 60_000)

    report = await backend.store.build_report(await gent(backend.store), "PZ Gent", span)

    (sarah,) = [line for line in report.lines if line.device_id is not None]
    assert len(sarah.alarms) == 1 and sarah.alarms[0].zone == "PZ Gent"
    assert (sarah.bluetooth_off_times, sarah.bluetooth_off_minutes) == (2, 30 + 6)
    assert sarah.battery_pct == 15 and sarah.phone_online and sarah.heard_in_period
    assert sarah.irregular == ["alarm", "bluetooth_off", "battery_low"]
    assert sarah.todo == CONSULT
    subject, text = report.mail()
    assert "2 to follow up" in subject  # and Lotte's: she has no button yet
    assert "alarms: yes" in text and "2 times, 36 min" in text and "15 %" in text


async def test_a_confidential_person_is_named_by_national_register_number_only(backend):
    async with backend.store._transaction() as conn:  # noqa: SLF001 (the case's setting)
        await conn.execute("UPDATE persons SET confidential = TRUE")
    report = await backend.store.build_report(await gent(backend.store), "PZ Gent", now_span())
    numbers = {p.national_register_number for p in DEMO_CASE.persons}
    assert {line.person for line in report.lines} == numbers
    assert all(line.phone is None and line.confidential for line in report.lines)
    text = report.mail()[1]
    assert not any(p.full_name in text or p.phone_number in text for p in DEMO_CASE.persons)


async def test_another_zone_s_report_holds_none_of_this_zone_s_persons(backend):
    other = await backend.store.zone_id("PZ Antwerpen")
    report = await backend.store.build_report(other, "PZ Antwerpen", now_span())
    assert report.lines == []


# -- made once, caught up, mailed, read by its zone only ------------------------------


async def test_reports_are_made_once_caught_up_and_mailed(database_url, kek):
    port = Port()
    async with mail_server(port) as inbox, backend_with_smtp(database_url, kek, port) as backend:
        store = backend.store
        assert await store.set_report_schedule(
            "PZ Gent", "07:00", "ref@pz-gent.example", "2026-11-20"
        )
        assert not await store.set_report_schedule(
            "PZ Nowhere", "07:00", "a@b.example", "2026-11-20"
        )
        notifier = backend.app.state.services.notifier
        clock = {"now": utc(2026, 11, 23, 8)}  # 09:00 in Brussels: three mornings due
        scheduler = ReportScheduler(store, lambda: clock["now"], notifier.wake)

        assert await scheduler.make_due() == 4  # the 20th to the 23rd
        assert await scheduler.make_due() == 0  # again: nothing twice
        days = [r.day for r in await store.zone_reports(None)]
        assert days == ["2026-11-23", "2026-11-22", "2026-11-21", "2026-11-20"]
        subjects = set()
        for _ in days:
            sender, recipients, mail = await inbox.next()
            assert recipients == ["ref@pz-gent.example"]
            subjects.add(mail["Subject"])
        assert subjects == {
            f"msa daily report PZ Gent {d}: 2 persons, 2 to follow up" for d in days
        }

        clock["now"] = utc(2026, 11, 24, 5, 59)  # 06:59: not yet
        assert await scheduler.make_due() == 0
        clock["now"] = utc(2026, 11, 24, 6)
        assert await scheduler.make_due() == 1


async def test_a_zone_officer_reads_their_zone_s_reports_only(backend):
    store = backend.store
    await store.add_operator("ref-gent", hash_token("officer-gent"), ZONE_OFFICER, "PZ Gent")
    await store.add_operator(
        "ref-antwerpen", hash_token("officer-antwerpen"), ZONE_OFFICER, "PZ Antwerpen"
    )
    await store.set_report_schedule("PZ Gent", "07:00", "ref@pz-gent.example", "2026-11-20")
    (schedule,) = await store.report_schedules()
    report_id = await store.make_report(schedule, dt.date(2026, 11, 21), now_ms())
    assert await store.make_report(schedule, dt.date(2026, 11, 21), now_ms()) is None
    client = backend.client

    listed = (await client.get("/api/v1/zone-reports", headers=GENT)).json()["reports"]
    assert [r["day"] for r in listed] == ["2026-11-21"]
    assert (await client.get("/api/v1/zone-reports", headers=ANTWERPEN)).json() == {"reports": []}
    one = await client.get(f"/api/v1/zone-reports/{report_id}", headers=GENT)
    assert one.json()["day"] == "2026-11-21" and len(one.json()["lines"]) == 2
    hidden = await client.get(f"/api/v1/zone-reports/{report_id}", headers=ANTWERPEN)
    assert hidden.status_code == 404
    page = await client.get(f"/zone/reports/{report_id}", headers=GENT)
    assert page.status_code == 200 and DEMO_CASE.persons[0].full_name in page.text
    assert "<script" not in page.text
