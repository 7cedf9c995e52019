"""HTTP error answers: `{"error": CODE, "detail": "a sentence for a human"}`."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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


EXCEPTION_HANDLERS = {ApiError: on_api_error, StoreUnavailable: on_store_unavailable}
