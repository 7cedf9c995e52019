"""The zone's daily reports on the web, for its reference officer (docs/daily-report.md).

- `GET /zone/reports`: the zone's reports, newest first (the last 60);
- `GET /zone/reports/{id}`: one report, per person, irregular ones first, each with
  what to do; rendered here, escaped, with no script;
- `GET /api/v1/zone-reports` and `GET /api/v1/zone-reports/{id}`: the same as JSON.

An officer reads their own zone's reports only: another zone's is a 404, as an
unknown one, so that ids say nothing of other zones.
"""

from __future__ import annotations

import html
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from msa.backend.auth import require_operator
from msa.backend.daily_report import Report, StoredReport, describe
from msa.backend.errors import ApiError
from msa.backend.ids import IdConvertor  # noqa: F401 (registers {report_id:id})
from msa.backend.login import page
from msa.backend.pages import shell
from msa.backend.roles import ZONE_OFFICER
from msa.backend.services import services
from msa.backend.store.base import Operator
from msa.backend.supervision_page import NAV


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
    body = render_list(await _list(request, operator))
    return shell("Daily reports", body, nav=NAV)


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
    Route("/zone/reports/{report_id:id}", report_page),
    Route("/api/v1/zone-reports", reports_json),
    Route("/api/v1/zone-reports/{report_id:id}", report_json),
]
