"""The operator's workflow over HTTP: one POST per step, for CIC operators only.

    POST /api/v1/alarms/{id}/acknowledge    {}
    POST /api/v1/alarms/{id}/dispatch       {"patrol": "GE-21", "zone": "PZ Gent"}
    POST /api/v1/alarms/{id}/on-scene       {}
    POST /api/v1/alarms/{id}/close          {"outcome": "real", "pv_number": "GE.60.L1.004321/26"}
    POST /api/v1/alarms/{id}/confirm-test   {}
    GET  /api/v1/alarms/{id}/audit
    GET  /api/v1/zones

Each step answers 200 `{"result": "done" | "unchanged", "alarm": {…}}` once it is
committed and audited; a repeat of a step done with the same data is `unchanged`.
The alarm is rendered as on the consoles: an alarm that cannot be shown comes as
its error card, and the step taken still answers 200.
A step out of order is 409 with what to do first, bad data 400, and neither
changes anything. There is no cancel: an alarm ends only closed by an operator.
Bodies must be `application/json`, which a form on another site cannot send.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from msa.backend import workflow
from msa.backend.alarms import render
from msa.backend.auth import require_operator
from msa.backend.bodies import json_object, read_body
from msa.backend.errors import ApiError, invalid
from msa.backend.ids import IdConvertor  # noqa: F401 (registers {alarm_id:id})
from msa.backend.services import services
from msa.backend.workflow import Acknowledge, Close, ConfirmTest, Dispatch, OnScene, Step
from msa.timefmt import now_ms, to_iso

MAX_BODY_BYTES = 1024


async def _json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", "Send the step as JSON (Content-Type: application/json)."
        )
    body = await read_body(request, MAX_BODY_BYTES)
    return json_object(body or b"{}")


def _text(data: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise invalid(f"'{key}' must be a string.")
    return value


def _step(name: str, data: dict[str, Any]) -> Step:
    if name == "dispatch":
        step: Step = Dispatch(str(_text(data, "patrol")), str(_text(data, "zone")))
    elif name == "close":
        step = Close(str(_text(data, "outcome")), _text(data, "pv_number", required=False))
    else:
        step = {"acknowledge": Acknowledge, "on-scene": OnScene, "confirm-test": ConfirmTest}[
            name
        ]()
    try:
        return workflow.validate(step)
    except workflow.Invalid as error:
        raise invalid(str(error)) from None


async def take_step(request: Request) -> JSONResponse:
    operator = await require_operator(request)
    alarm_id: int = request.path_params["alarm_id"]
    step = _step(request.path_params["step"], await _json_body(request))
    backend = services(request)
    try:
        result = await backend.store.apply_step(alarm_id, step, operator, now_ms())
    except workflow.Refused as refused:
        raise ApiError(409, refused.code, refused.detail) from None
    except workflow.Invalid as error:
        raise invalid(str(error)) from None
    if result is None:
        raise ApiError(404, "unknown_alarm", f"There is no alarm {alarm_id}.")
    if result.outcome == "done":
        backend.announcer.announce(alarm_id, step.name)
        if result.notification_id is not None and backend.notifier is not None:
            backend.notifier.wake()
    alarm = await backend.store.alarm(alarm_id)
    assert alarm is not None
    return JSONResponse(
        {"result": result.outcome, "extended_to": result.extended_to, "alarm": render(alarm)}
    )


async def alarm_audit(request: Request) -> JSONResponse:
    await require_operator(request)
    alarm_id: int = request.path_params["alarm_id"]
    backend = services(request)
    await backend.deliveries.flush()  # every delivery made before this request is in it
    entries = await backend.store.alarm_audit(alarm_id)
    if entries is None:
        raise ApiError(404, "unknown_alarm", f"There is no alarm {alarm_id}.")
    return JSONResponse(
        {
            "alarm_id": alarm_id,
            "audit": [
                {"at": to_iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
                for e in entries
            ],
        }
    )


async def list_zones(request: Request) -> JSONResponse:
    await require_operator(request)
    areas = await services(request).store.zone_areas()
    return JSONResponse({"zones": sorted({area.zone for area in areas})})


STEPS = ("acknowledge", "dispatch", "on-scene", "close", "confirm-test")


async def _route_step(request: Request) -> JSONResponse:
    if request.path_params["step"] not in STEPS:
        raise ApiError(
            404,
            "unknown_step",
            f"No such step; the steps are {', '.join(STEPS)}. An alarm cannot be cancelled.",
        )
    return await take_step(request)


routes = [
    Route("/api/v1/alarms/{alarm_id:id}/audit", alarm_audit),
    Route("/api/v1/alarms/{alarm_id:id}/{step}", _route_step, methods=["POST"]),
    Route("/api/v1/zones", list_zones),
]
