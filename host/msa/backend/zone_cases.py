"""The zone's cases on the web, for its reference officer (docs/cases.md):

- `GET /api/v1/zone-cases`: the zone's active cases, each with what is due today
  (a revisit, the re-evaluation, an expired measure) and the prosecutor's
  registrations; every case read is audited;
- `POST /api/v1/cases/{id}/revisit`, `…/reevaluation` `{"on": DAY?, "note": TEXT?}`,
  `…/extend` `{"on": DAY?, "reason": TEXT}` (nine months on new facts) and
  `…/cic-watch` `{"watch": "yes" | "no"}` (the CIC sees the case's supervision events);
- the same three as forms of the `/zone` page (`POST /zone/cases/{id}/…`, back to it).

An officer acts on their own zone's cases only (404 for another's, as for none).
"Today" is the day in Brussels on the app's clock.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from msa.backend.auth import require_operator
from msa.backend.bodies import form_fields, json_object, read_body
from msa.backend.case_life import CaseLife, parse_day
from msa.backend.daily_report import BRUSSELS
from msa.backend.errors import ApiError, invalid
from msa.backend.ids import IdConvertor  # noqa: F401 (registers {case_id:id})
from msa.backend.login import PAGE_HEADERS, page
from msa.backend.roles import ZONE_OFFICER
from msa.backend.services import services
from msa.backend.store.base import AuditEntry, Operator

ACTIONS = ("revisit", "reevaluation", "extend", "cic-watch")
MAX_BODY_BYTES = 1024
MAX_TEXT = 500


def today(request: Request) -> dt.date:
    now_ms = request.app.state.clock()
    return dt.datetime.fromtimestamp(now_ms / 1000, BRUSSELS).date()


async def zone_cases(request: Request, operator: Operator) -> list[CaseLife]:
    """The officer's zone's active cases, their reads audited."""
    if operator.zone_id is None:
        return []
    store = services(request).store
    cases = await store.zone_cases(operator.zone_id)
    at = request.app.state.clock()
    actor = f"operator:{operator.id}"
    await store.audit([AuditEntry(at, actor, "case.read", c.reference, c.id) for c in cases])
    return cases


async def cases_json(request: Request) -> JSONResponse:
    operator = await require_operator(request, ZONE_OFFICER)
    day = today(request)
    cases = [case.row(day) for case in await zone_cases(request, operator)]
    return JSONResponse({"on": day.isoformat(), "cases": cases})


async def act_json(request: Request) -> JSONResponse:
    operator = await require_operator(request, ZONE_OFFICER)
    data = json_object(await read_body(request, MAX_BODY_BYTES))
    case = await _act(request, operator, data)
    return JSONResponse({"case": case.row(today(request))})


async def act_form(request: Request) -> Response:
    try:
        operator = await require_operator(request, ZONE_OFFICER)
        await _act(request, operator, await form_fields(request, MAX_BODY_BYTES))
    except ApiError as error:
        return page("Not recorded", error.detail, error.status, **error.headers)
    return RedirectResponse("/zone", status_code=303, headers=PAGE_HEADERS)


async def _act(request: Request, operator: Operator, data: dict[str, Any]) -> CaseLife:
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise ApiError(404, "not_found", f"No such step {action!r}: one of {', '.join(ACTIONS)}.")
    case_id: int = request.path_params["case_id"]
    store = services(request).store
    case = await store.case_life_by_id(case_id)
    if case is None or case.zone_id != operator.zone_id:
        raise ApiError(404, "unknown_case", f"Your zone has no case {case_id}.")
    on = day_field(data, today(request))
    actor, at = f"operator:{operator.id}", request.app.state.clock()
    if case.status != "active":
        raise ApiError(409, "case_ended", f"Case {case.reference} has ended.")
    if action == "cic-watch":
        watch = data.get("watch")
        if watch not in ("yes", "no", True, False):
            raise invalid("'watch' is 'yes' or 'no'.")
        await store.set_case_supervision(case.reference, None, watch in ("yes", True))
        outcome = "done"
    elif action == "extend":
        reason = text_field(data, "reason", required=True)
        outcome, _ = await store.extend_case(case.reference, on, reason, actor, at)
    else:
        note = text_field(data, "note", required=False)
        outcome = await store.review_case(case.id, action, on, note, actor, at)  # type: ignore[arg-type]
    if outcome == "ended":
        raise ApiError(409, "case_ended", f"Case {case.reference} has ended.")
    found = await store.case_life_by_id(case_id)
    assert found is not None
    return found


def day_field(data: dict[str, Any], default: dt.date) -> dt.date:
    value = data.get("on")
    if value in (None, ""):
        return default
    if not isinstance(value, str):
        raise invalid("'on' is a day, 'YYYY-MM-DD'.")
    try:
        return parse_day(value, "'on'")
    except ValueError as error:
        raise invalid(str(error)) from None


def text_field(data: dict[str, Any], name: str, required: bool) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise invalid(f"'{name}' is required: say why.")
        return ""
    if not isinstance(value, str) or len(value.strip()) > MAX_TEXT:
        raise invalid(f"'{name}' is text of at most {MAX_TEXT} characters.")
    return value.strip()


def render(cases: list[CaseLife], day: dt.date) -> str:
    """The /zone page's cases section."""
    if not cases:
        return '<h2>Cases</h2><p class="empty">No active case in your zone.</p>'
    e = html.escape
    rows = []
    for case in cases:
        due = "".join(f"<li>{e(t.text)}</li>" for t in case.tasks(day)) or "<li>nothing due</li>"
        forms = "".join(
            f'<form method="post" action="/zone/cases/{case.id}/{action}">{extra}'
            f'<button type="submit">{label}</button></form>'
            for action, label, extra in (
                ("cic-watch", "Stop showing the CIC" if case.cic_watch else "Show the CIC",
                 f'<input type="hidden" name="watch" value="{"no" if case.cic_watch else "yes"}">'),
                ("revisit", "Revisit done", ""),
                ("reevaluation", "Re-evaluated", ""),
                ("extend", "Extend 9 months (new facts)",
                 '<input name="reason" required maxlength="500" placeholder="the new facts"'
                 ' aria-label="the new facts">'),
            )
        )  # fmt: skip
        registrations = "<br>".join(e(line) for line in case.registrations)
        rows.append(
            f'<tr class="case" data-case="{case.id}"><th scope="row">{e(case.reference)}</th>'
            f"<td>{e(str(case.ends_on or '-'))}</td><td><ul>{due}</ul></td>"
            f'<td class="registrations">{registrations}</td><td class="steps">{forms}</td></tr>'
        )
    return (
        "<h2>Cases</h2>"
        '<table class="cases"><thead><tr><th scope="col">case</th><th scope="col">ends on</th>'
        '<th scope="col">due</th><th scope="col">registrations</th><th scope="col">record'
        f"</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


routes = [
    Route("/api/v1/zone-cases", cases_json),
    Route("/api/v1/cases/{case_id:id}/{action}", act_json, methods=["POST"]),
    Route("/zone/cases/{case_id:id}/{action}", act_form, methods=["POST"]),
]
