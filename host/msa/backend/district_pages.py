"""The judicial district's pages (docs/roles.md):

- the **magistrate** (`/magistrate`): the district's requests with their risk
  assessment, to grant or refuse (a refused one may be decided again), and the
  district's active cases with the prosecutor's registrations;
  `GET /api/v1/requests`, `POST /api/v1/requests/{id}/decide`
  `{"decision": "grant" | "refuse", "on": DAY?, "note": TEXT?}`;
- **victim support** (`/support`): the district's protected persons with their
  phone numbers and addresses, confidential ones included, as the circular allows;
  `GET /api/v1/support/cases`.

Each reaches its own district only; every case read is audited.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from msa.backend.auth import require_operator
from msa.backend.bodies import form_fields, json_object, read_body
from msa.backend.case_life import RISK_QUESTIONS, CaseLife, RequestView, SupportCase
from msa.backend.errors import ApiError, invalid
from msa.backend.ids import IdConvertor  # noqa: F401 (registers {request_id:id})
from msa.backend.login import PAGE_HEADERS, page
from msa.backend.pages import shell
from msa.backend.roles import MAGISTRATE, VICTIM_SUPPORT
from msa.backend.services import services
from msa.backend.store.base import AuditEntry, Operator
from msa.backend.zone_cases import MAX_BODY_BYTES, day_field, text_field, today


async def _audit_reads(request: Request, operator: Operator, cases: list[Any]) -> None:
    at, actor = request.app.state.clock(), f"operator:{operator.id}"
    entries = [AuditEntry(at, actor, "case.read", c.reference, c.id) for c in cases]
    await services(request).store.audit(entries)


def _district(operator: Operator) -> int:
    if operator.district_id is None:
        raise ApiError(403, "forbidden", "You have no judicial district: ask the tech desk.")
    return operator.district_id


# -- the magistrate -------------------------------------------------------------------


async def _magistrate_view(request: Request) -> tuple[Operator, list[RequestView], list[CaseLife]]:
    operator = await require_operator(request, MAGISTRATE)
    district = _district(operator)
    store = services(request).store
    requests = await store.district_requests(district)
    cases = await store.district_cases(district)
    await _audit_reads(request, operator, cases)
    return operator, requests, cases


async def requests_json(request: Request) -> JSONResponse:
    _, requests, cases = await _magistrate_view(request)
    day = today(request)
    return JSONResponse(
        {"requests": [r.row() for r in requests], "cases": [c.row(day) for c in cases]}
    )


async def decide_json(request: Request) -> JSONResponse:
    operator = await require_operator(request, MAGISTRATE)
    data = json_object(await read_body(request, MAX_BODY_BYTES))
    return JSONResponse(await _decide(request, operator, data))


async def magistrate_page(request: Request) -> Response:
    try:
        operator, requests, cases = await _magistrate_view(request)
    except ApiError as error:
        return page("Log in to see your district", error.detail, error.status, **error.headers)
    body = render_requests(requests) + render_cases(cases)
    return shell("Requests and decisions", body, f"{operator.name} - magistrate")


async def decide_form(request: Request) -> Response:
    try:
        operator = await require_operator(request, MAGISTRATE)
        await _decide(request, operator, await form_fields(request, MAX_BODY_BYTES))
    except ApiError as error:
        return page("Not decided", error.detail, error.status, **error.headers)
    return RedirectResponse("/magistrate", status_code=303, headers=PAGE_HEADERS)


async def _decide(request: Request, operator: Operator, data: dict[str, Any]) -> dict[str, Any]:
    request_id: int = request.path_params["request_id"]
    store = services(request).store
    found = await store.request_view(request_id)
    district_id = _district(operator)
    if found is None or await store.district_id(found.district) != district_id:
        raise ApiError(404, "unknown_request", f"Your district has no request {request_id}.")
    decision = data.get("decision")
    if decision not in ("grant", "refuse"):
        raise invalid("'decision' is 'grant' or 'refuse'.")
    on = day_field(data, today(request))
    note = text_field(data, "note", required=decision == "refuse")
    actor, at = f"operator:{operator.id}", request.app.state.clock()
    decided = await store.decide_request(found.reference, decision == "grant", on, note, actor, at)
    if decided.outcome == "not_assessed":
        raise ApiError(409, "not_assessed", "The risk assessment is missing: the zone answers it.")
    if decided.outcome == "already_granted":
        raise ApiError(409, "already_granted", f"{found.reference} is granted already.")
    ends_on = None if decided.ends_on is None else decided.ends_on.isoformat()
    return {"request": found.reference, "decision": decided.outcome, "ends_on": ends_on}


def render_requests(requests: list[RequestView]) -> str:
    e = html.escape
    if not requests:
        return '<h2>Requests</h2><p class="empty">No request to decide.</p>'
    rows = []
    for r in requests:
        risk = (
            "<li>not assessed yet</li>"
            if r.risk is None
            else "".join(
                f"<li>{'yes' if r.risk.get(key) else 'no'}: {e(question)}</li>"
                for key, question in RISK_QUESTIONS
            )
        )
        state = "to decide" if r.decision is None else f"refused on {r.decided_on}: {r.note}"
        form = (
            f'<form method="post" action="/magistrate/requests/{r.id}/decide">'
            '<input name="note" maxlength="500" placeholder="note (a refusal says why)"'
            ' aria-label="note">'
            '<button type="submit" name="decision" value="grant">Grant (9 months)</button>'
            '<button type="submit" name="decision" value="refuse">Refuse</button></form>'
        )
        rows.append(
            f'<tr class="request" data-request="{r.id}"><th scope="row">{e(r.reference)}</th>'
            f"<td>{e(r.requested_by)}, {e(r.requested_on)}<br>{e(r.zone)}</td>"
            f"<td><ul>{risk}</ul></td><td>{e(state)}</td><td>{form}</td></tr>"
        )
    return (
        '<h2>Requests</h2><table class="requests"><thead><tr><th scope="col">reference</th>'
        '<th scope="col">requested</th><th scope="col">risk assessment</th>'
        '<th scope="col">state</th><th scope="col">decide</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render_cases(cases: list[CaseLife]) -> str:
    e = html.escape
    rows = "".join(
        f'<tr><th scope="row">{e(c.reference)}</th><td>{e(c.zone)}</td>'
        f"<td>{e(str(c.ends_on or '-'))}</td>"
        f"<td>{'<br>'.join(e(line) for line in c.registrations)}</td></tr>"
        for c in cases
    )
    return (
        '<h2>Active cases</h2><table class="cases"><thead><tr><th scope="col">case</th>'
        '<th scope="col">zone</th><th scope="col">ends on</th>'
        f'<th scope="col">registrations</th></tr></thead><tbody>{rows}</tbody></table>'
    )


# -- victim support -------------------------------------------------------------------


async def _support_view(request: Request) -> tuple[Operator, list[SupportCase]]:
    operator = await require_operator(request, VICTIM_SUPPORT)
    cases = await services(request).store.support_cases(_district(operator))
    await _audit_reads(request, operator, cases)
    return operator, cases


async def support_json(request: Request) -> JSONResponse:
    _, cases = await _support_view(request)
    return JSONResponse({"cases": [c.row() for c in cases]})


async def support_page(request: Request) -> Response:
    try:
        operator, cases = await _support_view(request)
    except ApiError as error:
        return page("Log in to see your district", error.detail, error.status, **error.headers)
    return shell("Protected persons", render_support(cases), f"{operator.name} - victim support")


CONFIDENTIAL = ' <span class="confidential">(confidential)</span>'


def render_support(cases: list[SupportCase]) -> str:
    e = html.escape
    if not cases:
        return '<p class="empty">No active case in your district.</p>'
    rows = []
    for case in cases:
        for person in case.persons:
            addresses = "".join(
                f"<li>{e(str(a['kind']))}: {e(str(a['address']))}</li>" for a in person.addresses
            )
            mark = (
                ' <span class="confidential">(confidential)</span>' if person.confidential else ""
            )
            rows.append(
                f'<tr class="person"><th scope="row">{e(case.reference)}</th>'
                f"<td>{e(person.name)}{mark}<br>{e(person.phone_number)}<br>"
                f"{e(person.national_register_number)}</td><td><ul>{addresses}</ul></td></tr>"
            )
    return (
        '<table class="support"><thead><tr><th scope="col">case</th><th scope="col">person'
        f'</th><th scope="col">addresses</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


routes = [
    Route("/magistrate", magistrate_page),
    Route("/magistrate/requests/{request_id:id}/decide", decide_form, methods=["POST"]),
    Route("/api/v1/requests", requests_json),
    Route("/api/v1/requests/{request_id:id}/decide", decide_json, methods=["POST"]),
    Route("/support", support_page),
    Route("/api/v1/support/cases", support_json),
]
