"""Supervision on the web (docs/supervision.md).

- `GET /zone`: the zone's reference officer's page: the events of the zone's cases
  that are open or not acknowledged yet, each with what to do and an Acknowledge
  button. Rendered here, escaped, with no script.
- `GET /api/v1/supervision`: the same as JSON; for a CIC operator, the events of
  the cases their zones show the CIC (`msa backend case-supervision --cic-watch`).
- `POST /api/v1/supervision/{id}/acknowledge` (JSON) and
  `POST /zone/events/{id}/acknowledge` (the page's form: back to the page).

A zone officer reaches the events of their own zone only; a CIC operator those of
watched cases only. Each acknowledgement is an audit entry in the case's evidence.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from msa.backend import zone_cases
from msa.backend.auth import require_operator
from msa.backend.errors import ApiError
from msa.backend.ids import IdConvertor  # noqa: F401 (registers {event_id:id})
from msa.backend.login import PAGE_HEADERS, page
from msa.backend.pages import shell
from msa.backend.roles import CIC_OPERATOR, ZONE_OFFICER
from msa.backend.services import services
from msa.backend.store.base import Operator
from msa.backend.supervision import Event
from msa.timefmt import now_ms, to_iso

BOTH = (CIC_OPERATOR, ZONE_OFFICER)

HINT = (
    '<p class="hint">An event ends by itself once what raised it is over (the button is '
    "heard again, Bluetooth is back on); acknowledge it to say it is taken care of.</p>"
)
NAV = (("/zone", "Supervision"), ("/zone/reports", "Daily reports"))


async def supervision_json(request: Request) -> JSONResponse:
    operator = await require_operator(request, BOTH)
    events = await _events(request, operator)
    return JSONResponse({"events": [event.row() for event in events]})


async def acknowledge_json(request: Request) -> JSONResponse:
    operator = await require_operator(request, BOTH)
    outcome = await _acknowledge(request, operator)
    return JSONResponse({"status": outcome, "event_id": request.path_params["event_id"]})


async def zone_page(request: Request) -> Response:
    try:
        operator = await require_operator(request, ZONE_OFFICER)
    except ApiError as error:
        return page("Log in to see your zone", error.detail, error.status, **error.headers)
    events = await _events(request, operator)
    cases = await zone_cases.zone_cases(request, operator)
    body = render(events) + HINT + zone_cases.render(cases, zone_cases.today(request))
    return shell("Supervision", body, f"{operator.name} - reference officer", NAV)


async def acknowledge_form(request: Request) -> Response:
    try:
        operator = await require_operator(request, ZONE_OFFICER)
        await _acknowledge(request, operator)
    except ApiError as error:
        return page("Not acknowledged", error.detail, error.status, **error.headers)
    return RedirectResponse("/zone", status_code=303, headers=PAGE_HEADERS)


async def _events(request: Request, operator: Operator) -> list[Event]:
    store = services(request).store
    if operator.role == ZONE_OFFICER:
        if operator.zone_id is None:
            return []
        return await store.supervision_events(zone_id=operator.zone_id)
    return await store.supervision_events(watched=True)


async def _acknowledge(request: Request, operator: Operator) -> str:
    event_id: int = request.path_params["event_id"]
    zone_id = operator.zone_id if operator.role == ZONE_OFFICER else None
    if operator.role == ZONE_OFFICER and zone_id is None:
        raise ApiError(403, "forbidden", "You have no police zone: ask the tech desk.")
    outcome = await services(request).store.acknowledge_supervision(
        event_id, operator.id, zone_id, now_ms()
    )
    if outcome == "unknown":
        raise ApiError(404, "unknown_event", f"There is no supervision event {event_id}.")
    if outcome == "not_yours":
        raise ApiError(
            403, "not_your_event", f"Supervision event {event_id} is not one of your cases'."
        )
    return outcome


def render(events: list[Event]) -> str:
    if not events:
        return '<p class="empty">Nothing to follow up: every button and phone reports.</p>'
    rows = [_row(event) for event in events]
    return (
        '<table class="supervision"><thead><tr><th scope="col">what</th>'
        '<th scope="col">case and person</th><th scope="col">since</th>'
        '<th scope="col">what to do</th><th scope="col">state</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _row(event: Event) -> str:
    e = html.escape
    if event.acknowledged_at is None:
        state = (
            f'<form method="post" action="/zone/events/{event.id}/acknowledge">'
            f'<button type="submit" class="ack">Acknowledge</button></form>'
        )
    else:
        state = (
            f"acknowledged by {e(event.acknowledged_by or '?')} {e(to_iso(event.acknowledged_at))}"
        )
    if event.ended_at is not None:
        state += f'<br><span class="ended">ended {e(to_iso(event.ended_at))}</span>'
    kind = event.kind.replace("_", " ")
    return (
        f'<tr class="event {e(event.kind)}{" open" if event.ended_at is None else ""}"'
        f' data-event="{event.id}">'
        f'<th scope="row">{e(kind)}<br><small>{e(event.detail)}</small></th>'
        f"<td>{e(event.case_reference)}<br>{e(event.person_name)}</td>"
        f"<td>{e(to_iso(event.since))}</td><td>{e(event.advice)}</td><td>{state}</td></tr>"
    )


routes = [
    Route("/zone", zone_page),
    Route("/zone/events/{event_id:id}/acknowledge", acknowledge_form, methods=["POST"]),
    Route("/api/v1/supervision", supervision_json),
    Route("/api/v1/supervision/{event_id:id}/acknowledge", acknowledge_json, methods=["POST"]),
]
