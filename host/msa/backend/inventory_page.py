"""The tech desk's inventory on the web, for a logged-in tech desk operator: `GET /inventory`
(a page) and `GET /api/v1/inventory` (JSON). Each judicial district's buttons by
state (msa/backend/inventory.py), its reorder level, and whether it is short: what
`msa inventory` prints. The page is rendered here, escaped, with no script."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from msa.backend.auth import require_operator
from msa.backend.errors import ApiError
from msa.backend.inventory import STATES
from msa.backend.login import page
from msa.backend.pages import shell
from msa.backend.roles import TECH_DESK
from msa.backend.services import services
from msa.backend.store.base import DistrictStock

TITLE = "Buttons per judicial district"

HINT = (
    '<p class="hint">Change it with <code>msa inventory</code> (add, move, threshold); a '
    "district's magistrate is mailed once per shortage.</p>"
)


async def inventory_json(request: Request) -> JSONResponse:
    await require_operator(request, TECH_DESK)
    stock = await services(request).store.inventory_counts()
    return JSONResponse({"districts": [district.row() for district in stock]})


async def inventory_page(request: Request) -> Response:
    try:
        await require_operator(request, TECH_DESK)
    except ApiError as error:
        return page("Log in to see the inventory", error.detail, error.status, **error.headers)
    stock = await services(request).store.inventory_counts()
    return shell(TITLE, render(stock) + HINT)


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
