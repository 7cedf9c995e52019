"""The CIC console's page (static/console.html), with the map's tile source: its
URL goes to the script in a meta tag, and its origin into the page's CSP (img-src),
so that the browser loads tiles from there and from nowhere else."""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

from starlette.responses import HTMLResponse

from msa.backend.auth import parse_origin

CONSOLE_PAGE = Path(__file__).parent / "static" / "console.html"
TILES_META = '<meta name="msa-tiles" content="">'
BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def tile_origin(template: str) -> str | None:
    """`scheme://host:port` of a tile URL template with {z}, {x} and {y}; None if it is not one."""
    if not all(part in template for part in ("{z}", "{x}", "{y}")) or len(template) > 500:
        return None
    sample = template.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0")
    origin = parse_origin(sample)
    if origin is None or any(c in template for c in " \"'<>\\"):
        return None
    scheme, host, port = origin
    return f"{scheme}://{host}:{port}"


def csp(tiles: str | None) -> str:
    images = "'self' data:" if tiles is None else f"'self' data: {tile_origin(tiles)}"
    return f"default-src 'self'; img-src {images}; form-action 'self'"


@lru_cache(maxsize=4)
def _page(tiles: str | None) -> str:
    text = CONSOLE_PAGE.read_text(encoding="utf-8")
    if tiles is None:
        return text
    return text.replace(TILES_META, f'<meta name="msa-tiles" content="{html.escape(tiles)}">')


def console_page_with(tiles: str | None) -> HTMLResponse:
    headers = {"Content-Security-Policy": csp(tiles), **BASE_HEADERS}
    return HTMLResponse(_page(tiles), headers=headers)
