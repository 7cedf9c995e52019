"""The CIC console: its static files, the live alarm stream, alarm reads (its page
and the log-in: login.py).

`GET /api/v1/console/stream` is a server-sent-events stream. On connect it sends
every alarm not closed yet (and, to a console reconnecting with `Last-Event-ID`,
every alarm after that one, closed meanwhile or not: it may have been sent by
another backend node), then `event: ready`, then each alarm as it is
committed (`event: alarm`) and each change to one (`event: update`: a workflow
step, a new fix, the magistrate's mail sent), and a comment line every 15 s to
keep proxies from closing it. An alarm that cannot be shown is sent as its error
card (alarms.render), and every other alarm still goes out. Each alarm handed to
an operator is audited (`alarm.push`, once per connection) by the app's
`DeliveryAudit`, which the stream hands the entry and never waits for: an alarm
must never wait for the audit trail. `GET /api/v1/alarms/{id}` audits
(`alarm.read`) first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from msa.backend import security
from msa.backend.alarms import render
from msa.backend.auth import require_operator
from msa.backend.deliveries import DeliveryAudit
from msa.backend.errors import ApiError
from msa.backend.ids import IdConvertor  # noqa: F401 (registers {alarm_id:id})
from msa.backend.login import keeps_session_alive
from msa.backend.push import Subscription
from msa.backend.services import services
from msa.backend.store.base import AuditEntry, Operator
from msa.timefmt import now_ms, to_iso
from msa.waiting import within

STATIC = Path(__file__).parent / "static"
KEEPALIVE_S = 15.0
RECONNECT_MS = 2000
MAX_ID_DIGITS = 18  # an alarm id is a BIGINT


async def read_alarm(request: Request) -> JSONResponse:
    operator = await require_operator(request)
    alarm_id = request.path_params["alarm_id"]
    store = services(request).store
    alarm = await store.alarm(alarm_id)
    if alarm is None:
        raise ApiError(404, "unknown_alarm", f"There is no alarm {alarm_id}.")
    event = render(alarm)
    await store.audit([_delivery(operator, event, "alarm.read", now_ms())])
    return JSONResponse(event)


async def stream(request: Request) -> Response:
    operator = await require_operator(request)
    backend = services(request)
    since = _last_event_id(request)
    # Subscribe before reading the open alarms, so none falls between the two.
    subscription = backend.channel.subscribe()
    try:
        backlog = [render(alarm) for alarm in await backend.store.open_alarms(since)]
        events = await backend.store.security_events(limit=security.BACKLOG)
    except BaseException:
        subscription.close()
        raise
    notices = [security.render(event) for event in events]
    return StreamingResponse(
        _events(backend.deliveries, operator, subscription, backlog, notices),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    deliveries: DeliveryAudit,
    operator: Operator,
    subscription: Subscription,
    backlog: list[dict[str, Any]],
    notices: list[dict[str, Any]],
) -> AsyncIterator[str]:
    with subscription:
        yield f"retry: {RECONNECT_MS}\n\n"
        for notice in notices:
            yield _message("security", notice)
        pushed_at = now_ms()
        for event in backlog:
            yield _alarm_message(event, pushed_at)
        await deliveries.record(_delivery(operator, e, "alarm.push", pushed_at) for e in backlog)
        yield _message("ready", {"open_alarms": len(backlog)})
        sent = {event["alarm_id"]: event["revision"] for event in backlog}
        while True:
            try:
                event = await within(subscription.get(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            if event is None:  # closed: shutdown, or this console fell behind
                return
            if "security" in event:
                yield _message("security", event["security"])
                continue
            alarm_id = event["alarm_id"]
            if sent.get(alarm_id, -1) >= event["revision"]:
                continue  # this console has it (the backlog overlapped), or a newer state
            first = alarm_id not in sent
            sent[alarm_id] = event["revision"]
            pushed_at = now_ms()
            if "change" in event:
                yield _message("update", {**event, "pushed_at": to_iso(pushed_at)})
            else:
                yield _alarm_message(event, pushed_at)
            if first:
                await deliveries.record([_delivery(operator, event, "alarm.push", pushed_at)])


def _last_event_id(request: Request) -> int | None:
    # The SSE id is the alarm's, on `alarm` events only: a reconnecting
    # EventSource sends back the last new alarm it was given.
    text = request.headers.get("last-event-id")
    if text is None or text == "":
        return None
    if not text.isascii() or not text.isdigit() or len(text) > MAX_ID_DIGITS:
        raise ApiError(
            400, "bad_last_event_id", f"Last-Event-ID must be an alarm id, not {text[:40]!r}."
        )
    return int(text)


def _message(name: str, data: Mapping[str, Any], event_id: int | None = None) -> str:
    head = f"event: {name}\n" + ("" if event_id is None else f"id: {event_id}\n")
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n"


def _alarm_message(event: Mapping[str, Any], pushed_at: int) -> str:
    return _message("alarm", {**event, "pushed_at": to_iso(pushed_at)}, event["alarm_id"])


def _actor(operator: Operator) -> str:
    return f"operator:{operator.id}"


def _delivery(operator: Operator, event: Mapping[str, Any], action: str, at: int) -> AuditEntry:
    # An error card has no case, only the case's id (if it could be read).
    case_id = event["case"]["id"] if "case" in event else event["case_id"]
    return AuditEntry(at, _actor(operator), action, f"alarm:{event['alarm_id']}", case_id)


routes = [
    Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
    Route("/api/v1/console/stream", keeps_session_alive(stream)),
    Route("/api/v1/alarms/{alarm_id:id}", read_alarm),
]
