"""What the phone reports about itself, for the daily report (SPEC §7.2):

    POST /api/v1/link-reports   {"bluetooth_off_at": T, "bluetooth_on_at": T | null}
    POST /api/v1/check-ins      {"at": T}

Both take the phone's bearer token, answer only after the commit, and are
idempotent: the same report again is a `duplicate`. A period with Bluetooth off
is reported when it starts (`bluetooth_on_at` null or absent: `open`) and when it
ends (`closed`); the same start with another end is refused with 409 and changes
nothing. Supervision shows an open period while it lasts (docs/supervision.md).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from msa.backend.auth import hash_token, phone_token, unknown_phone
from msa.backend.bodies import json_object, parse_instant, read_body
from msa.backend.errors import ApiError, invalid
from msa.backend.services import services
from msa.timefmt import to_iso


async def post_link_report(request: Request) -> JSONResponse:
    data = await _body(request)
    off_at = _instant(data, "bluetooth_off_at")
    on_at = None if data.get("bluetooth_on_at") is None else _instant(data, "bluetooth_on_at")
    if on_at is not None and on_at < off_at:
        raise invalid("'bluetooth_on_at' is before 'bluetooth_off_at'.")
    phone_id = await _phone(request)
    outcome = await services(request).store.commit_link_report(phone_id, off_at, on_at)
    if outcome == "conflict":
        raise ApiError(
            409,
            "report_conflict",
            f"A link report from {to_iso(off_at)} with another end was committed before.",
        )
    off_ms = None if on_at is None else on_at - off_at
    return JSONResponse({"status": outcome, "off_ms": off_ms})


async def post_check_in(request: Request) -> JSONResponse:
    data = await _body(request)
    at = _instant(data, "at")
    phone_id = await _phone(request)
    outcome = await services(request).store.commit_check_in(phone_id, at)
    return JSONResponse({"status": outcome})


async def _phone(request: Request) -> int:
    phone_id = await services(request).store.phone_by_token(hash_token(phone_token(request)))
    if phone_id is None:
        raise unknown_phone()
    return phone_id


async def _body(request: Request) -> dict[str, Any]:
    phone_token(request)  # the cheapest refusal first, as for frames
    return json_object(await read_body(request))


def _instant(data: dict[str, Any], name: str) -> int:
    return parse_instant(data.get(name), name)


routes = [
    Route("/api/v1/link-reports", post_link_report, methods=["POST"]),
    Route("/api/v1/check-ins", post_check_in, methods=["POST"]),
]
