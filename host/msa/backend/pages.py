"""The frame of the server-rendered pages (zone, reports, inventory, magistrate,
victim support): the console's stylesheet, a bar with the title and the links,
no script. Callers escape what they put in; the shell escapes its own text."""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse

from msa.backend.login import PAGE_HEADERS

_SHELL = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>msa - {title}</title>
  <link rel="icon" href="/console/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/console/static/console.css">
</head>
<body>
  <header class="bar">
    <h1>{title} <span class="sub">{subtitle}</span></h1>
    {nav}
    <form method="post" action="/console/logout"><button type="submit">Log out</button></form>
  </header>
  <main>
    {body}
  </main>
</body>
</html>
"""


def shell(
    title: str,
    body: str,
    subtitle: str = "mobile stalking alarm",
    nav: tuple[tuple[str, str], ...] = (),
) -> HTMLResponse:
    """A page: `body` is HTML (escaped by the caller); `nav` is (href, label) links."""
    links = "".join(
        f'<a class="nav" href="{html.escape(href)}">{html.escape(label)}</a>' for href, label in nav
    )
    text = _SHELL.format(
        title=html.escape(title), subtitle=html.escape(subtitle), nav=links, body=body
    )
    return HTMLResponse(text, headers=PAGE_HEADERS)
