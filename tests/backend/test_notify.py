"""The magistrate's mail, over real SMTP (aiosmtpd in-process), on both engines:
queued in the close's transaction, sent after, retried while the server is down."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from msa.backend.keys import Kek
from msa.backend.notify import DEFAULT_SENDER, SmtpConfig, compose
from msa.backend.pgcluster import cluster
from msa.backend.seed import DEMO_MAGISTRATE
from msa.backend.workflow import Close
from tests.backend.conftest import Backend, started_backend
from tests.backend.smtp import Port, mail_server
from tests.backend.util import OPERATOR, PHONE, body, signed

PV = "GE.60.L1.004321/26"
SENDER = "cic@police.example"
FAST_RETRY = (0.1,)  # the schedule's figures are not under test, the retrying is


def backend_with_smtp(
    database_url: str, kek: Kek, port: Port | None
) -> AbstractAsyncContextManager[Backend]:
    """The started backend, its mails to the SMTP server on `port` (queued if None)."""
    smtp = (
        None if port is None else SmtpConfig("127.0.0.1", port.number, SENDER, retry_s=FAST_RETRY)
    )
    return started_backend(database_url, kek, smtp)


async def close_real_alarm(client: httpx.AsyncClient, counter: int = 1) -> dict:
    pressed = await client.post("/api/v1/frames", json=body(signed(counter)), headers=PHONE)
    alarm_id = pressed.json()["alarm_id"]
    for name, data in [
        ("acknowledge", {}),
        ("dispatch", {"patrol": "GE-21", "zone": "PZ Gent"}),
        ("on-scene", {}),
        ("close", {"outcome": "real", "pv_number": PV}),
    ]:
        response = await client.post(
            f"/api/v1/alarms/{alarm_id}/{name}", json=data, headers=OPERATOR
        )
        assert response.status_code == 200, response.text
    return response.json()["alarm"]


async def next_change(updates, change: str, timeout_s: float = 10.0) -> dict:
    """The next event the push channel publishes for this kind of change."""
    async with asyncio.timeout(timeout_s):
        while (event := await updates.get()).get("change") != change:
            pass
    return event


async def until(condition, timeout_s: float = 10.0) -> None:
    """Wait for a condition on the database (a poll, like Stack.settled)."""
    async with asyncio.timeout(timeout_s):
        while not await condition():
            await asyncio.sleep(0.02)


async def test_closing_a_real_alarm_mails_the_magistrate(database_url, kek):
    port = Port()
    async with mail_server(port) as inbox, backend_with_smtp(database_url, kek, port) as backend:
        with backend.app.state.channel.subscribe() as updates:
            closed = await close_real_alarm(backend.client)
            mail_from, recipients, mail = await inbox.next()
            event = await next_change(updates, "magistrate")
    assert event["alarm_id"] == closed["alarm_id"] and event["revision"] == closed["revision"] + 1
    assert (mail_from, recipients) == (SENDER, [DEMO_MAGISTRATE])
    assert mail["To"] == DEMO_MAGISTRATE and mail["From"] == SENDER
    assert "GE.60.L1.012345/26" in mail["Subject"] and PV in mail["Subject"]
    assert mail["Message-ID"].startswith("<msa-notification-")
    text = mail.get_payload(decode=True).decode()
    assert "Sarah Claes" in text and "GE-21 (PZ Gent)" in text
    assert "Measure extended by 9 months: ends on 2028-04-05." in text
    assert event["magistrate"]["status"] == "sent" and event["magistrate"]["attempts"] == 1
    assert event["history"][-1]["action"] == "magistrate.notified"
    assert event["history"][-1]["actor"] == "system:mailer"


async def test_a_mail_server_that_is_down_loses_nothing(database_url, kek):
    port = Port()  # nothing listens there yet
    async with backend_with_smtp(database_url, kek, port) as backend:
        store = backend.store
        closed = await close_real_alarm(backend.client)
        # The close was answered with the mail already in the outbox.
        assert closed["magistrate"]["status"] == "queued"
        assert (await store.counts())["notifications"] == 1

        async def failed_twice() -> bool:
            alarm = await store.alarm(closed["alarm_id"])
            return alarm.notification.attempts >= 2

        await until(failed_twice)
        queued = (await store.alarm(closed["alarm_id"])).notification
        assert queued.sent_at is None and "Connection" in queued.last_error

        async with mail_server(port) as inbox:
            _, recipients, mail = await inbox.next()

            async def sent() -> bool:
                return (await store.alarm(closed["alarm_id"])).notification.sent_at is not None

            await until(sent)
    assert recipients == [DEMO_MAGISTRATE] and PV in mail["Subject"]
    assert inbox.mails.empty()  # sent once


async def test_a_mail_queued_without_a_server_is_sent_by_the_next_backend(database_url, kek):
    async with backend_with_smtp(database_url, kek, None) as backend:
        closed = await close_real_alarm(backend.client)
        assert closed["magistrate"]["status"] == "queued"
    port = Port()
    async with mail_server(port) as inbox, backend_with_smtp(database_url, kek, port):
        _, recipients, mail = await inbox.next()
    assert (
        recipients == [DEMO_MAGISTRATE] and f"alarm {closed['alarm_id']} closed" in mail["Subject"]
    )


def test_a_confidential_person_is_named_by_her_national_register_number_only():
    state = {
        "id": 7,
        "reference": "AN.12.L3.000777/26",
        "judicial_district": "Antwerpen",
        "managing_zone": "PZ Antwerpen",
        "full_name": "Nora Peeters",
        "national_register_number": "85.02.03-222.86",
        "confidential": True,
        "device_id": 0xC0FFEE,
        "counter": 3,
        "received_at": 0,
        "patrol": "AN-3",
        "patrol_zone": "PZ Antwerpen",
    }
    subject, text = compose(state, Close("misuse", "AN.12.L3.000001/26"), None)
    assert "Nora" not in subject + text and "Peeters" not in subject + text
    assert "85.02.03-222.86 (confidential)" in text
    assert "extended" not in text


@pytest.mark.parametrize("bad", ["", "mail.example", "mail.example:0", "mail.example:smtp", ":25"])
def test_an_smtp_address_needs_a_host_and_a_port(bad):
    from msa.errors import UsageError

    if bad == "mail.example":
        assert SmtpConfig.parse(bad).port == 25
        return
    with pytest.raises(UsageError, match="HOST:PORT"):
        SmtpConfig.parse(bad)


def test_an_smtp_address_without_a_sender_mails_from_the_default():
    assert SmtpConfig.parse("mail.example:25").sender == DEFAULT_SENDER
    assert SmtpConfig.parse("mail.example:25", "cic@police.example").sender == "cic@police.example"


@pytest.mark.postgres
async def test_a_step_during_a_database_outage_is_503_and_its_retry_goes_through(pg_cluster, kek):
    """PostgreSQL stops between two steps: the step is refused whole (503), the
    operator's retry commits, and the mailer, which lived through it, sends."""
    del pg_cluster  # only for its skip/fail rule: this test needs a cluster it may stop
    port = Port()
    with cluster() as pg:
        async with mail_server(port) as inbox, backend_with_smtp(pg.url, kek, port) as backend:
            client = backend.client
            pressed = await client.post("/api/v1/frames", json=body(signed(1)), headers=PHONE)
            steps = f"/api/v1/alarms/{pressed.json()['alarm_id']}"
            assert (await client.post(f"{steps}/acknowledge", json={}, headers=OPERATOR)).is_success
            dispatch = {"patrol": "GE-21", "zone": "PZ Gent"}

            pg.stop("immediate")
            down = await client.post(f"{steps}/dispatch", json=dispatch, headers=OPERATOR)
            assert (down.status_code, down.json()["error"]) == (503, "unavailable")
            assert down.headers["retry-after"] == "1"
            pg.start()

            retry = await client.post(f"{steps}/dispatch", json=dispatch, headers=OPERATOR)
            assert (retry.status_code, retry.json()["result"]) == (200, "done")
            for name, data in [("on-scene", {}), ("close", {"outcome": "real", "pv_number": PV})]:
                answer = await client.post(f"{steps}/{name}", json=data, headers=OPERATOR)
                assert answer.status_code == 200, answer.text
            _, recipients, mail = await inbox.next()
            audit = [e.action for e in await backend.store.alarm_audit(pressed.json()["alarm_id"])]
    assert recipients == [DEMO_MAGISTRATE] and PV in mail["Subject"]
    assert audit[:5] == [
        "alarm.acknowledge",
        "alarm.dispatch",
        "alarm.on_scene",
        "alarm.close",
        "case.extend",
    ]


async def test_a_district_short_of_buttons_mails_its_magistrate(database_url, kek):
    """Over real SMTP, through the same outbox as the alarms' mails."""
    port = Port()
    async with mail_server(port) as inbox, backend_with_smtp(database_url, kek, port) as backend:
        store = backend.store
        district = "Oost-Vlaanderen"  # the seeded case's, whose magistrate is DEMO_MAGISTRATE
        await store.inventory_add(district, [0x51, 0x52])
        await store.set_min_stock(district, 3)  # two in stock: short at once
        backend.app.state.services.notifier.wake()
        mail_from, recipients, mail = await inbox.next()
    assert (mail_from, recipients) == (SENDER, [DEMO_MAGISTRATE])
    subject = " ".join(mail["Subject"].split())  # a long subject is folded
    assert subject == f"Stalkingalarm {district}: 2 button(s) in stock, under the level of 3"
    assert "reorder level of 3" in mail.get_payload(decode=True).decode()
    assert inbox.mails.empty()
