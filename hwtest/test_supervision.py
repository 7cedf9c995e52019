"""Supervision over the whole chain (issue 14): the victim's phone checks in, says
when Bluetooth goes off and comes back, and sends a moving trail while an alarm is
open; the backend's sweep raises and ends the events from what really arrived."""

from __future__ import annotations

import pytest

from hwtest.harness import Chain
from msa.app.location import GHENT
from msa.backend.store import open_store
from msa.backend.supervision import Rules
from msa.timefmt import now_ms
from msa.waiting import wait_until

pytestmark = [pytest.mark.hil]


async def open_events(stack: Chain) -> set[str]:
    """The sweep now (as the backend runs it every 30 s), and the open events' kinds."""
    store = await open_store(stack.database_url)
    try:
        await store.sweep_supervision(now_ms(), Rules())
        return {e.kind for e in await store.supervision_events() if e.ended_at is None}
    finally:
        await store.close()


async def test_bluetooth_off_is_raised_while_it_lasts_and_the_phone_checks_in(stack: Chain):
    phone = stack.phone
    assert phone is not None and phone.reports is not None
    await wait_until(lambda: phone.reports.sent["/api/v1/check-ins"] >= 1, 15, "a check-in")

    await phone.set_bluetooth(False)
    await wait_until(lambda: not phone.linked.is_set(), 10, "the link down")
    await wait_until(lambda: phone.reports.sent["/api/v1/link-reports"] >= 1, 15, "the report")
    assert "bluetooth_off" in await open_events(stack)

    await phone.set_bluetooth(True)
    await wait_until(phone.linked.is_set, 30, "the phone linked again")
    await wait_until(lambda: phone.reports.sent["/api/v1/link-reports"] >= 2, 15, "its end")
    assert "bluetooth_off" not in await open_events(stack)


async def test_an_alarm_s_trail_moves_until_the_cic_closes_it(stack: Chain):
    phone = stack.phone
    assert phone is not None and phone.reports is not None
    phone.reports.trail_every_s = 0.5
    phone.location = phone.reports.location = GHENT.walking()  # she walks away
    await stack.press()
    await wait_until(lambda: phone.reports.fixes >= 3, 20, "three fixes of the trail")

    store = await open_store(stack.database_url)
    try:
        (shown,) = await store.open_alarms()
        trail = shown.trail
    finally:
        await store.close()
    assert len(trail) >= 4  # the alarm's own fix, then the phone's
    assert len({(point.lat, point.lon) for point in trail}) == len(trail)  # she walks
