"""An alarm as the CIC console receives it, and its announcement after commit.

`render` gives the JSON of the stream event, of `GET /api/v1/alarms/{id}` and of
a workflow step's answer (docs/backend.md lists it): `alarm_event`, which applies
the confidentiality rule (for a confidential person the console gets the
national register number instead of the name and phone number), or, for an
alarm that cannot be shown (a value out of every range, a row that does not
load), an error card: what can still be read of it, and what to do. One alarm
never keeps another from the consoles.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any

from msa.backend import nodes, workflow
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
    UnreadableAlarm,
    Workflow,
)
from msa.backend.store.queries import describe, unreadable
from msa.timefmt import to_iso

log = logging.getLogger(__name__)

HEADLINES = {
    "alarm": "STALKING ALARM",
    "test_alarm": "TEST ALARM (provisioning test, no patrol)",
}

# Waits between attempts to load committed alarms for the consoles.
_ANNOUNCE_RETRY_S = (0.05, 0.25, 1.0, 5.0)
BATCH = 32  # alarms loaded in one read; far below a console's queue (push.QUEUE_LIMIT)


def render(alarm: Alarm | UnreadableAlarm) -> dict[str, Any]:
    """The alarm for the consoles: its `alarm_event`, or, if that cannot be made or
    sent as JSON, its error card (`error_card`), logged in one line."""
    if isinstance(alarm, UnreadableAlarm):
        log.error("alarm %d cannot be displayed (it does not load): %s", alarm.id, alarm.error)
        return error_card(alarm)
    try:
        event = alarm_event(alarm)
        json.dumps(event, allow_nan=False)  # as the stream and the answers send it
    except Exception as error:
        log.error("alarm %d cannot be displayed: %s", alarm.id, describe(error))
        return error_card(_readable_part(alarm, describe(error)))
    return event


def error_card(alarm: UnreadableAlarm) -> dict[str, Any]:
    """What the consoles get of an alarm that cannot be shown: still an alarm, with
    what identifies it, its workflow buttons, and what the operator should do."""
    kind = alarm.kind if alarm.kind in HEADLINES else None
    status = alarm.status if alarm.status in workflow.STATUSES else None
    device_id = alarm.device_id
    device = f"{device_id:08x}" if device_id is not None and 0 <= device_id < 2**32 else None
    label = "TEST ALARM" if kind == "test_alarm" else "STALKING ALARM"  # when unsure: stalking
    where = (
        f"case {_known(alarm.case_id)}, person {_known(alarm.person_id)}, button {_known(device)}"
    )
    return {
        "alarm_id": alarm.id,
        "revision": alarm.revision if alarm.revision is not None else 0,
        "kind": kind,
        "test": kind == "test_alarm",
        "headline": f"{label} {alarm.id} – CANNOT BE DISPLAYED",
        "advice": f"Act on it from what is known ({where}) and call the duty technician "
        f"about alarm {alarm.id}.",
        "status": status,
        "next_steps": workflow.next_steps(kind, status) if kind and status else [],
        "device_id": device,
        "person_id": alarm.person_id,
        "case_id": alarm.case_id,
        "display_error": alarm.error,
    }


def _known(value: object) -> str:
    return "unknown" if value is None else str(value)


def _readable_part(alarm: Alarm, error: str) -> UnreadableAlarm:
    row = {
        "id": alarm.id,
        "revision": alarm.revision,
        "kind": alarm.kind,
        "status": alarm.status,
        "device_id": alarm.device_id,
        "person_id": getattr(alarm.person, "id", None),
        "case_id": getattr(alarm.case, "id", None),
    }
    return unreadable(row, error)


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

    `announce` returns at once. One task loads what was announced, up to `BATCH`
    alarms in one read (in a burst, a few reads instead of one per alarm), and
    renders and publishes each on its own. An alarm announced again before it
    was loaded is loaded once: its latest state carries both. If the database
    fails, it tries again a few times; an alarm it could not announce is still
    open, so every console that (re)connects is sent it.
    """

    def __init__(
        self, store: Store, channel: PushChannel, batch: int = BATCH, nodes: bool = False
    ) -> None:
        """`nodes`: other backend nodes share the database; each alarm announced
        here is told to them (msa/backend/nodes.py)."""
        self._store = store
        self._channel = channel
        self._batch = batch
        self._nodes = nodes
        self._waiting: dict[int, str | None] = {}  # alarm id -> change; oldest first
        self._to_tell: list[tuple[int, str | None]] = []
        self._shown: dict[int, int] = {}  # alarm not closed -> the revision published
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._teller: asyncio.Task[None] | None = None

    def announce(
        self,
        alarm_id: int,
        change: str | None = None,
        tell: bool = True,
        loaded: Alarm | UnreadableAlarm | None = None,
    ) -> None:
        """Publish the alarm: a new one (`change` None), or what changed on it
        (`acknowledge`, `location`, `magistrate.notified`, …), sent as an update;
        and tell the other nodes, unless it is one of theirs (`tell` False).
        `loaded`: the alarm as just read (with its commit), published at once
        unless an announcement of it is already waiting to be read."""
        if loaded is not None and alarm_id not in self._waiting:
            self._publish(alarm_id, change, loaded)
        else:
            new_and_waiting = alarm_id in self._waiting and self._waiting[alarm_id] is None
            if not new_and_waiting:  # a new alarm not yet out goes out new, in its latest state
                self._waiting[alarm_id] = change
        if tell and self._nodes:
            self._to_tell.append((alarm_id, change))
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._announce_forever(), name="alarm announcer")

    def shown_revision(self, alarm_id: int) -> int | None:
        """The revision of the alarm last published, while it is not closed."""
        return self._shown.get(alarm_id)

    def shown_open(self) -> list[int]:
        return list(self._shown)

    async def _announce_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                ids = list(itertools.islice(self._waiting, self._batch))
                await self._announce({alarm_id: self._waiting.pop(alarm_id) for alarm_id in ids})
            if self._to_tell and (self._teller is None or self._teller.done()):
                # After the local push, off its way: telling the others costs a round trip.
                self._teller = asyncio.create_task(self._tell(), name="alarm teller")

    async def _tell(self) -> None:
        while self._to_tell:
            changes, self._to_tell = self._to_tell, []
            try:
                await self._store.notify(nodes.CHANNEL, nodes.payloads(changes))
            except Exception as error:  # the others' catch-up finds what was not told
                log.warning("alarms %s not told to the other nodes: %s", changes, describe(error))

    async def _announce(self, changes: dict[int, str | None]) -> None:
        for wait_s in (*_ANNOUNCE_RETRY_S, None):
            try:
                # On the alarms' way to the consoles: ahead of routine reads.
                loaded = await self._store.alarms(list(changes))
                break
            except StoreUnavailable as error:
                if wait_s is None:
                    log.error("alarms %s committed but not announced: %s", list(changes), error)
                    return
                await asyncio.sleep(wait_s)
            except Exception as error:  # logged here: the announcer goes on with the next
                log.error("alarms %s not announced: %s", list(changes), describe(error))
                return
        found = {alarm.id: alarm for alarm in loaded}
        for alarm_id, change in changes.items():
            alarm = found.get(alarm_id)
            if alarm is None:
                log.error("alarm %d committed but not found to announce", alarm_id)
                continue
            self._publish(alarm_id, change, alarm)

    def _publish(self, alarm_id: int, change: str | None, alarm: Alarm | UnreadableAlarm) -> None:
        event = render(alarm)
        self._channel.publish(event if change is None else {**event, "change": change})
        if alarm.status == "closed" or alarm.revision is None:
            self._shown.pop(alarm_id, None)
        else:
            self._shown[alarm_id] = alarm.revision

    async def aclose(self) -> None:
        """Stop announcing (shutdown: the consoles are gone too)."""
        for task in (self._worker, self._teller):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
