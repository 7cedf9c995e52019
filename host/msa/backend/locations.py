"""`POST /api/v1/alarms/{id}/locations`: the phone's fixes while an alarm runs.

The phone authenticates as for frames (its bearer token) and may add fixes only
to an alarm of its own device, until the alarm is closed. Body:

    {"lat": 51.05, "lon": 3.72, "accuracy_m": 12, "fix_at": "2026-11-23T19:03:10.000Z"}

`fix_at` is required: (alarm, fix_at) is a fix's identity, so a retry is a
`duplicate` and stores nothing. Answers: 200 `{"status": "committed" | "duplicate",
"alarm_id", "intervention_zone"}`; 400 `invalid_request`; 401 `unauthorized`;
404 `unknown_alarm`; 403 `not_your_alarm`; 409 `alarm_closed` (final: drop the fix);
400 `invalid_time` for a `fix_at` out of the time rule (SPEC §7.3).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from msa.backend import zones
from msa.backend.auth import hash_token, phone_token, unknown_phone
from msa.backend.bodies import parse_json, parse_location, read_body
from msa.backend.errors import ApiError, invalid
from msa.backend.ids import IdConvertor  # noqa: F401 (registers {alarm_id:id})
from msa.backend.services import services
from msa.timefmt import now_ms

MAX_BODY_BYTES = 1024


async def post_location(request: Request) -> JSONResponse:
    token = phone_token(request)
    alarm_id: int = request.path_params["alarm_id"]
    body = await read_body(request, MAX_BODY_BYTES)
    fix = parse_location(parse_json(body))
    if fix is None or fix.fix_at is None:
        raise invalid("A fix needs 'lat', 'lon' and 'fix_at' (and 'accuracy_m' if known).")
    backend = services(request)
    outcome = await backend.store.add_fix(hash_token(token), alarm_id, fix, now_ms())
    if outcome == "unknown_phone":
        raise unknown_phone()
    if outcome == "unknown_alarm":
        raise ApiError(404, "unknown_alarm", f"There is no alarm {alarm_id}.")
    if outcome == "not_linked":
        raise ApiError(403, "not_your_alarm", f"Alarm {alarm_id} is not this phone's button's.")
    if outcome == "closed":
        raise ApiError(
            409, "alarm_closed", f"Alarm {alarm_id} is closed; its trail takes no more fixes."
        )
    if outcome == "committed":
        backend.announcer.announce(alarm_id, "location")
    zone = zones.locate(await backend.store.zone_areas(), fix.lat, fix.lon)
    return JSONResponse({"status": outcome, "alarm_id": alarm_id, "intervention_zone": zone})


routes = [Route("/api/v1/alarms/{alarm_id:id}/locations", post_location, methods=["POST"])]
