"""`--access-log`: one line per request, written when its answer is finished.

    access 127.0.0.1 GET /api/v1/console/stream 200 61234.5ms

Client address, method, path, status, duration in ms. Never the query string:
a log-in link's code or a token must not end up in a log. The path is
percent-encoded and cut, so no request can forge or flood log lines. A pure
ASGI middleware (not Starlette's BaseHTTPMiddleware): a stream goes through
untouched and is logged once, when it ends, with how long it lasted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGGER = "msa.backend.access"
MAX_PATH_CHARS = 200
_SAFE = "/-._~!$&'()*+,;=:@"  # a path's own characters (RFC 3986), kept as they are


def access_line(scope: Scope, status: int, ms: float) -> str:
    """The log line of a request (see module docstring)."""
    client = scope.get("client")
    source = client[0] if client else "-"
    method = quote(str(scope.get("method", "-"))[:16], safe="")
    path = quote(str(scope.get("path", "")), safe=_SAFE)
    if len(path) > MAX_PATH_CHARS:
        path = path[:MAX_PATH_CHARS] + "..."
    return f"access {source} {method} {path} {status} {ms:.1f}ms"


class AccessLog:
    """Wraps an ASGI app; `write` gets each line (default: the `msa.backend.access` logger)."""

    def __init__(
        self,
        app: ASGIApp,
        write: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.write = write or logging.getLogger(LOGGER).info
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 500  # what the server answers when the app fails before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.write(access_line(scope, status, (self.clock() - started) * 1000))
