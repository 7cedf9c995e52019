"""HTTP error answers: `{"error": CODE, "detail": "a sentence for a human"}`."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from msa.backend.store import StoreUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal with its HTTP status, error code (protocol/SPEC.md §7) and detail."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def invalid(detail: str) -> ApiError:
    """A 400 for a request body or field that is not valid."""
    return ApiError(400, "invalid_request", detail)


def error_response(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


async def on_api_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    response = error_response(error.status, error.code, error.detail)
    response.headers.update(error.headers)
    return response


async def on_store_unavailable(request: Request, error: Exception) -> Response:
    log.error("%s %s: %s", request.method, request.url.path, error)
    response = error_response(
        503,
        "unavailable",
        "The backend cannot reach its database right now; nothing was stored. Retry later.",
    )
    response.headers["Retry-After"] = "1"
    return response


async def on_http_error(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (no route, wrong method) in the API's JSON form."""
    assert isinstance(error, HTTPException)
    path = request.url.path
    if not path.startswith("/api/"):
        return PlainTextResponse(error.detail, error.status_code, headers=error.headers)
    if error.status_code == 404 and path.startswith("/api/v1/alarms/"):
        code, detail = "unknown_alarm", "No such alarm: alarm ids are whole numbers from 1."
    elif error.status_code == 404:
        code, detail = "not_found", f"No API path {path}; see /api/v1/openapi.json."
    else:
        code, detail = "method_not_allowed", f"{request.method} is not allowed on {path}."
    response = error_response(error.status_code, code, detail)
    response.headers.update(error.headers or {})
    return response


EXCEPTION_HANDLERS = {
    ApiError: on_api_error,
    StoreUnavailable: on_store_unavailable,
    HTTPException: on_http_error,
}
