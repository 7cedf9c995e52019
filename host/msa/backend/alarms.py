"""An alarm as the CIC console receives it, and its announcement after commit.

`alarm_event` is the JSON shape of the stream event and of `GET /api/v1/alarms/{id}`
(docs/backend.md lists it). It applies the confidentiality rule: for a
confidential person the console gets the national register number instead of
the name and phone number.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from msa.backend import workflow
from msa.backend.push import PushChannel
from msa.backend.store import Store, StoreUnavailable
from msa.backend.store.base import (
    Address,
    Alarm,
    Case,
    HistoryEntry,
    Location,
    Person,
    TrailPoint,
    Workflow,
)
from msa.timefmt import to_iso

log = logging.getLogger(__name__)

HEADLINES = {
    "alarm": "STALKING ALARM",
    "test_alarm": "TEST ALARM (provisioning test, no patrol)",
}

# Waits between attempts to load a committed alarm for the console.
_ANNOUNCE_RETRY_S = (0.05, 0.25, 1.0, 5.0)


def alarm_event(alarm: Alarm) -> dict[str, Any]:
    """The alarm as JSON for the console (without `pushed_at`, which the stream adds)."""
    return {
        "alarm_id": alarm.id,
        "kind": alarm.kind,
        "test": alarm.kind == "test_alarm",
        "headline": HEADLINES[alarm.kind],
        "status": alarm.status,
        "device_id": f"{alarm.device_id:08x}",
        "counter": alarm.counter,
        "battery_mv": alarm.battery_mv,
        "person": _person(alarm.person),
        "case": _case(alarm.case),
        "location": _location(alarm.location),
        "pressed_at": _ms(alarm.pressed_at),
        "received_at": to_iso(alarm.received_at),
        "committed_at": to_iso(alarm.committed_at),
        "revision": alarm.revision,
        "workflow": _workflow(alarm.workflow),
        "next_steps": workflow.next_steps(alarm.kind, alarm.status),
        "trail": [_trail_point(point) for point in alarm.trail],
        "intervention_zone": alarm.intervention_zone,
        "history": [_history(entry) for entry in alarm.history],
        "magistrate": _magistrate(alarm),
    }


def _ms(value: int | None) -> str | None:
    return None if value is None else to_iso(value)


def _workflow(flow: Workflow) -> dict[str, Any]:
    def step(at: int | None, by: str | None, **data: Any) -> dict[str, Any] | None:
        return None if at is None else {"at": to_iso(at), "by": by, **data}

    return {
        "acknowledged": step(flow.acknowledged_at, flow.acknowledged_by),
        "dispatched": step(
            flow.dispatched_at, flow.dispatched_by, patrol=flow.patrol, zone=flow.patrol_zone
        ),
        "on_scene": step(flow.on_scene_at, flow.on_scene_by),
        "closed": step(
            flow.closed_at, flow.closed_by, outcome=flow.outcome, pv_number=flow.pv_number
        ),
    }


def _trail_point(point: TrailPoint) -> dict[str, Any]:
    return {
        "lat": point.lat,
        "lon": point.lon,
        "accuracy_m": point.accuracy_m,
        "fix_at": _ms(point.fix_at),
        "received_at": to_iso(point.received_at),
        "source": point.source,
        "geo": geo_uri(point.lat, point.lon, point.accuracy_m),
    }


def _history(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "at": to_iso(entry.at),
        "actor": entry.actor,
        "by": entry.actor_name or entry.actor,
        "action": entry.action,
        "detail": entry.detail,
    }


def _magistrate(alarm: Alarm) -> dict[str, Any]:
    """Whether the magistrate is told, and where the mail is."""
    n = alarm.notification
    if n is None:
        outcome = alarm.workflow.outcome
        if outcome is None or alarm.kind == "test_alarm":
            status = "not_yet" if alarm.kind == "alarm" else "not_applicable"
        else:
            status = "not_required"  # a false alarm
        return {"status": status}
    return {
        "status": "sent" if n.sent_at is not None else "queued",
        "recipient": n.recipient,
        "queued_at": to_iso(n.created_at),
        "sent_at": _ms(n.sent_at),
        "attempts": n.attempts,
        "last_error": n.last_error,
    }


def geo_uri(lat: float, lon: float, accuracy_m: float | None = None) -> str:
    """An RFC 5870 `geo:` URI, opened by the map application of the operator's choice."""
    uri = f"geo:{lat:.6f},{lon:.6f}"
    return uri if accuracy_m is None else f"{uri};u={accuracy_m:g}"


def _identity(person: Person) -> dict[str, Any]:
    if person.confidential:
        identity = {
            "name": None,
            "phone_number": None,
            "national_register_number": person.national_register_number,
        }
    else:
        identity = {
            "name": person.full_name,
            "phone_number": person.phone_number,
            "national_register_number": None,
        }
    return {"id": person.id, "confidential": person.confidential, **identity}


def _person(person: Person) -> dict[str, Any]:
    return {
        **_identity(person),
        "addresses": [_address(address) for address in person.addresses],
    }


def _address(address: Address) -> dict[str, Any]:
    geo = None
    if address.lat is not None and address.lon is not None:
        geo = geo_uri(address.lat, address.lon)
    return {
        "kind": address.kind,
        "address": address.address,
        "valid_from": address.valid_from,
        "valid_until": address.valid_until,
        "lat": address.lat,
        "lon": address.lon,
        "geo": geo,
    }


def _case(case: Case) -> dict[str, Any]:
    suspect = case.suspect
    return {
        "id": case.id,
        "reference": case.reference,
        "status": case.status,
        "decided_on": case.decided_on,
        "ends_on": case.ends_on,
        "managing_zone": case.managing_zone,
        "judicial_district": case.judicial_district,
        "support_started_on": case.support_started_on,
        "other_persons": [_identity(other) for other in case.others],
        "suspect": None
        if suspect is None
        else {
            "name": suspect.full_name,
            "record": suspect.record,
            "weapons": {"possession": suspect.has_weapons, "description": suspect.weapons},
        },
    }


def _location(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {
        "lat": location.lat,
        "lon": location.lon,
        "accuracy_m": location.accuracy_m,
        "fix_at": None if location.fix_at is None else to_iso(location.fix_at),
        "geo": geo_uri(location.lat, location.lon, location.accuracy_m),
    }


class AlarmAnnouncer:
    """Publishes committed alarms with their case context, off the phone's ack path.

    `announce` returns at once; a task loads the alarm and publishes it. If the
    database fails in between, it tries again a few times; an alarm it could not
    announce is still open, so every console that (re)connects is sent it.
    """

    def __init__(self, store: Store, channel: PushChannel) -> None:
        self._store = store
        self._channel = channel
        self._tasks: set[asyncio.Task[None]] = set()

    def announce(self, alarm_id: int, change: str | None = None) -> None:
        """Publish the alarm: a new one (`change` None), or what changed on it
        (`acknowledge`, `location`, `magistrate.notified`, …), sent as an update."""
        task = asyncio.create_task(
            self._announce(alarm_id, change), name=f"announce alarm {alarm_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce(self, alarm_id: int, change: str | None) -> None:
        for wait_s in (*_ANNOUNCE_RETRY_S, None):
            try:
                # On the alarm's path to the consoles: ahead of routine traffic.
                alarm = await self._store.alarm(alarm_id, urgent=True)
            except StoreUnavailable as error:
                if wait_s is None:
                    log.error("alarm %d committed but not announced: %s", alarm_id, error)
                    return
                await asyncio.sleep(wait_s)
                continue
            if alarm is None:
                log.error("alarm %d committed but not found to announce", alarm_id)
                return
            event = alarm_event(alarm)
            self._channel.publish(event if change is None else {**event, "change": change})
            return

    async def aclose(self) -> None:
        """Stop the announcements under way (shutdown: the consoles are gone too)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
