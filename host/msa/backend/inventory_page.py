"""The tech desk's inventory on the web, for a logged-in operator: `GET /inventory`
(a page) and `GET /api/v1/inventory` (JSON). Each judicial district's buttons by
state (msa/backend/inventory.py), its reorder level, and whether it is short: what
`msa inventory` prints. The page is rendered here, escaped, with no script."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from msa.backend.auth import require_operator
from msa.backend.errors import ApiError
from msa.backend.inventory import STATES
from msa.backend.login import PAGE_HEADERS, page
from msa.backend.services import services
from msa.backend.store.base import DistrictStock

TITLE = "Buttons per judicial district"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>msa - inventory</title>
  <link rel="icon" href="/console/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/console/static/console.css">
</head>
<body>
  <header class="bar">
    <h1>{title} <span class="sub">mobile stalking alarm</span></h1>
    <a class="nav" href="/console">Console</a>
  </header>
  <main>
    {body}
    <p class="hint">Change it with <code>msa inventory</code> (add, move, threshold); a
    district's magistrate is mailed once per shortage.</p>
  </main>
</body>
</html>
"""


async def inventory_json(request: Request) -> JSONResponse:
    await require_operator(request)
    stock = await services(request).store.inventory_counts()
    return JSONResponse({"districts": [district.row() for district in stock]})


async def inventory_page(request: Request) -> Response:
    try:
        await require_operator(request)
    except ApiError as error:
        return page("Log in to see the inventory", error.detail, error.status, **error.headers)
    stock = await services(request).store.inventory_counts()
    text = _PAGE.format(title=html.escape(TITLE), body=render(stock))
    return HTMLResponse(text, headers=PAGE_HEADERS)


def render(stock: list[DistrictStock]) -> str:
    if not stock:
        return '<p class="empty">No buttons yet: <code>msa inventory add</code>.</p>'
    head = "".join(f'<th scope="col">{state}</th>' for state in STATES)
    rows = []
    for district in stock:
        counts = "".join(f"<td>{district.counts[state]}</td>" for state in STATES)
        status = '<td class="short">short: order buttons</td>' if district.short else "<td>ok</td>"
        rows.append(
            f'<tr><th scope="row">{html.escape(district.district)}</th>{counts}'
            f"<td>{district.min_stock}</td>{status}</tr>"
        )
    return (
        '<table class="inventory"><thead><tr><th scope="col">district</th>'
        f'{head}<th scope="col">reorder under</th><th scope="col">stock</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


routes = [
    Route("/inventory", inventory_page),
    Route("/api/v1/inventory", inventory_json),
]
