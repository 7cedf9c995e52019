"""The zone's daily reports on the web, for its reference officer (docs/daily-report.md).

- `GET /zone/reports`: the zone's reports, newest first (the last 60);
- `GET /zone/reports/{id}`: one report, per person, irregular ones first, each with
  what to do; rendered here, escaped, with no script;
- `GET /api/v1/zone-reports` and `GET /api/v1/zone-reports/{id}`: the same as JSON.

An officer reads their own zone's reports only: another zone's is a 404, as an
unknown one, so that ids say nothing of other zones.
"""

from __future__ import annotations

import argparse
import html
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from msa.backend.auth import require_operator
from msa.backend.bodies import form_fields, json_object, read_body
from msa.backend.daily_report import Report, Schedule, StoredReport, describe, parse_send_at
from msa.backend.errors import ApiError, invalid
from msa.backend.ids import IdConvertor  # noqa: F401 (registers {report_id:id})
from msa.backend.login import PAGE_HEADERS, page
from msa.backend.pages import shell
from msa.backend.roles import ZONE_OFFICER
from msa.backend.services import services
from msa.backend.store.base import Operator
from msa.backend.supervision_page import NAV
from msa.backend.zone_cases import MAX_BODY_BYTES, today
from msa.cliargs import email


async def reports_json(request: Request) -> JSONResponse:
    operator = await require_operator(request, ZONE_OFFICER)
    return JSONResponse({"reports": [r.row() for r in await _list(request, operator)]})


async def report_json(request: Request) -> JSONResponse:
    operator = await require_operator(request, ZONE_OFFICER)
    report = await _one(request, operator)
    return JSONResponse(asdict(report))


async def reports_page(request: Request) -> Response:
    try:
        operator = await require_operator(request, ZONE_OFFICER)
    except ApiError as error:
        return page("Log in to see your zone", error.detail, error.status, **error.headers)
    schedule = await _schedule(request, operator)
    body = render_schedule(schedule) + render_list(await _list(request, operator))
    return shell("Daily reports", body, nav=NAV)


async def schedule_json(request: Request) -> JSONResponse:
    operator = await require_operator(request, ZONE_OFFICER)
    data = json_object(await read_body(request, MAX_BODY_BYTES))
    schedule = await _set_schedule(request, operator, data)
    return JSONResponse({"zone": schedule.zone, "at": schedule.send_at.strftime("%H:%M"),
                         "email": schedule.email})  # fmt: skip


async def schedule_form(request: Request) -> Response:
    try:
        operator = await require_operator(request, ZONE_OFFICER)
        await _set_schedule(request, operator, await form_fields(request, MAX_BODY_BYTES))
    except ApiError as error:
        return page("Not saved", error.detail, error.status, **error.headers)
    return RedirectResponse("/zone/reports", status_code=303, headers=PAGE_HEADERS)


async def _schedule(request: Request, operator: Operator) -> Schedule | None:
    schedules = await services(request).store.report_schedules()
    return next((s for s in schedules if s.zone_id == operator.zone_id), None)


async def _set_schedule(request: Request, operator: Operator, data: dict[str, Any]) -> Schedule:
    """The zone's report time and mailbox, as its officer sets them."""
    store = services(request).store
    zone = None if operator.zone_id is None else await store.zone_name(operator.zone_id)
    if zone is None:
        raise ApiError(403, "forbidden", "You have no police zone: ask the tech desk.")
    at, mailbox = data.get("at"), data.get("email")
    try:
        parse_send_at(at if isinstance(at, str) else "")
        email(mailbox if isinstance(mailbox, str) else "")
    except (ValueError, argparse.ArgumentTypeError) as error:
        raise invalid(f"{error}.") from None
    assert isinstance(at, str) and isinstance(mailbox, str)
    await store.set_report_schedule(zone, at, mailbox, today(request).isoformat())
    found = await _schedule(request, operator)
    assert found is not None
    return found


def render_schedule(schedule: Schedule | None) -> str:
    at = "07:00" if schedule is None else schedule.send_at.strftime("%H:%M")
    mailbox = "" if schedule is None else html.escape(schedule.email)
    state = "not mailed yet: set a time and an address" if schedule is None else "mailed"
    return (
        f'<form class="schedule" method="post" action="/zone/reports/schedule"><p>The report is '
        f"{state}: each morning at "
        f'<input name="at" value="{at}" pattern="[0-2][0-9]:[0-5][0-9]" required size="5"'
        ' aria-label="time (Brussels)"> (Brussels) to '
        f'<input name="email" type="email" value="{mailbox}" required aria-label="mailbox"> '
        '<button type="submit">Save</button></p></form>'
    )


async def report_page(request: Request) -> Response:
    try:
        operator = await require_operator(request, ZONE_OFFICER)
        report = await _one(request, operator)
    except ApiError as error:
        return page("No such report", error.detail, error.status, **error.headers)
    return shell(f"Daily report {report.zone} {report.day}", render(report), nav=NAV)


async def _list(request: Request, operator: Operator) -> list[StoredReport]:
    if operator.zone_id is None:
        return []
    return await services(request).store.zone_reports(operator.zone_id)


async def _one(request: Request, operator: Operator) -> Report:
    report_id: int = request.path_params["report_id"]
    found = await services(request).store.zone_report(report_id)
    if found is None or found[0] != operator.zone_id:
        raise ApiError(404, "unknown_report", f"Your zone has no report {report_id}.")
    return found[1]


def render_list(reports: list[StoredReport]) -> str:
    if not reports:
        return (
            '<p class="empty">No report yet: the tech desk sets the time '
            "(<code>msa backend report-schedule</code>).</p>"
        )
    rows = "".join(
        f'<tr><th scope="row"><a href="/zone/reports/{r.id}">{html.escape(r.day)}</a></th>'
        f"<td>{r.persons}</td><td>{r.irregular}</td>"
        f"<td>{'mailed' if r.mailed_at else 'mail queued'}</td></tr>"
        for r in reports
    )
    return (
        '<table class="reports"><thead><tr><th scope="col">day</th><th scope="col">persons'
        '</th><th scope="col">to follow up</th><th scope="col">mail</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def render(report: Report) -> str:
    e = html.escape
    lines = sorted(report.lines, key=lambda line: (not line.irregular, line.case))
    rows = []
    for line in lines:
        items = "".join(f"<li>{e(item)}</li>" for item in describe(line))
        who = e(line.person) + ("" if line.phone is None else f"<br>{e(line.phone)}")
        if line.confidential:
            who += '<br><span class="confidential">confidential address</span>'
        rows.append(
            f'<tr class="person{" irregular" if line.irregular else ""}">'
            f'<th scope="row">{e(line.case)}</th><td>{who}</td><td><ul>{items}</ul></td></tr>'
        )
    return (
        f"<p>From {e(report.period_start)} to {e(report.period_end)} (UTC): "
        f"{len(report.lines)} protected persons, {report.irregular} to follow up.</p>"
        '<table class="report"><thead><tr><th scope="col">case</th><th scope="col">person'
        '</th><th scope="col">the five items, and what to do</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


routes = [
    Route("/zone/reports", reports_page),
    Route("/zone/reports/schedule", schedule_form, methods=["POST"]),
    Route("/api/v1/zone-reports/schedule", schedule_json, methods=["POST"]),
    Route("/zone/reports/{report_id:id}", report_page),
    Route("/api/v1/zone-reports", reports_json),
    Route("/api/v1/zone-reports/{report_id:id}", report_json),
]
