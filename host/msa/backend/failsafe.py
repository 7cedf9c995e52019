"""The last line of defence: an unexpected exception is one log line and one 500.

Every request gets an id (`X-Request-Id` on every answer). A request whose
handler raises what no handler expected is answered, if nothing was sent yet,

    500 {"error": "internal_error", "detail": "…", "request_id": "…"}

and the log gets one line (request id, method, path, the exception's type and
message, and where it was raised), not a traceback per request: a client that
can make the backend fail must not be able to flood its log. The exception does
not reach the server, which would log it again with its traceback.
"""

from __future__ import annotations

import json
import logging
import secrets
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"


def new_request_id() -> str:
    return secrets.token_hex(8)


def internal_error_body(request_id: str) -> dict[str, str]:
    return {
        "error": "internal_error",
        "detail": "The backend failed on this request; nothing is known to be stored. "
        "Retry later; if it persists, give the request id to the backend's operators.",
        "request_id": request_id,
    }


class Failsafe:
    """ASGI middleware: request ids, and one 500 + one log line per unexpected failure."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:  # noqa: BLE001 (the point: nothing escapes)
            where = _where(error)
            log.error(
                "request %s %s %s failed: %s: %s (at %s)",
                request_id,
                scope.get("method", "?"),
                scope.get("path", "?"),
                type(error).__name__,
                _short(str(error)),
                where,
            )
            if not started:
                await _send_500(send, request_id)


def _short(text: str, limit: int = 200) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "…"


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"


async def _send_500(send: Send, request_id: str) -> None:
    body = json.dumps(internal_error_body(request_id)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (REQUEST_ID_HEADER, request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
