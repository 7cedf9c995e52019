"""`POST /api/v1/frames`: the phone hands over a button frame (protocol/SPEC.md §7).

The checks run cheapest first and each refusal changes nothing: a token at all,
the body, the frame's structure, the phone behind the token, the device and its
link to the phone, the MAC. Then one transaction stores the frame (and its
alarm); the answer is sent only after it committed. A retry of a committed frame
is a duplicate by the database's UNIQUE (device_id, counter), never by a
read-then-write here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from msa.backend import security
from msa.backend.admission import RoutineGate
from msa.backend.auth import hash_token, phone_token, unknown_phone
from msa.backend.bodies import (
    in_window,
    json_object,
    out_of_window,
    parse_any_instant,
    parse_location,
    read_body,
)
from msa.backend.contexts import ContextCache
from msa.backend.errors import ApiError, invalid
from msa.backend.services import Services, services
from msa.backend.store.base import Commit, Device, IngestContext, Location, NewAlarm, NewFrame
from msa.timefmt import now_ms, to_iso
from protocol import frame as wire

log = logging.getLogger(__name__)
_ALARM_TYPES = {wire.ALARM: "alarm", wire.TEST_ALARM: "test_alarm"}


@dataclass(frozen=True, slots=True)
class FrameRequest:
    """A well-formed request body; the frame's MAC is not verified yet."""

    raw: bytes
    frame: wire.Frame
    received_at: int
    location: Location | None


def parse_body(body: bytes) -> FrameRequest:
    """Validate a request body; raises ApiError 400 saying what is wrong.

    The phone's times keep the time rule (SPEC §7.3), except on an alarm: an
    alarm is never turned away for a clock, so there a `received_at` out of the
    rule becomes the backend's own clock and a fix time out of it unknown.
    """
    data = json_object(body, "a JSON object with 'frame' and 'received_at'")
    raw = _frame_bytes(data.get("frame"))
    if raw and raw[0] > wire.VERSION:
        # A button updated before its backend: the phone keeps the frame and retries.
        detail = f"Frame version {raw[0]} is newer than this backend's {wire.VERSION}."
        raise ApiError(501, "unsupported_version", detail)
    try:
        frame = wire.parse(raw)
    except wire.FrameError as error:
        detail = f"The frame is not a valid msa frame: {error}."
        raise ApiError(400, "malformed_frame", detail) from None
    if not frame.signed:
        raise ApiError(400, "malformed_frame", f"A {frame.name} frame is for the button only.")
    if frame.counter == 0:
        raise ApiError(400, "malformed_frame", "Button frame counters start at 1; this one is 0.")
    is_alarm = frame.type in _ALARM_TYPES
    received_at = parse_any_instant(data.get("received_at"), "received_at")
    if not in_window(received_at):
        if not is_alarm:
            raise out_of_window("received_at", data["received_at"])
        received_at = now_ms()
    location = parse_location(data.get("location"), keep_bad_time=is_alarm)
    time_s = frame.fields()["time_s"]
    if time_s and not in_window(time_s * 1000) and not is_alarm:
        raise out_of_window(f"the {frame.name} frame's time_s", time_s)
    return FrameRequest(raw, frame, received_at, location)


def _frame_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise invalid("'frame' must be the frame's bytes as a hexadecimal string.")
    if len(value) > 2 * wire.MAX_FRAME:
        raise ApiError(400, "malformed_frame", f"The frame is longer than {wire.MAX_FRAME} bytes.")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ApiError(400, "malformed_frame", "The frame is not a hexadecimal string.") from None


async def post_frame(request: Request) -> JSONResponse:
    token = phone_token(request)
    req = parse_body(await read_body(request))
    routine: RoutineGate = request.app.state.routine
    if req.frame.type in _ALARM_TYPES:
        return await _ingest(request, token, req, urgent=True)
    with routine.admit():
        await routine.step_aside()
        response = await _ingest(request, token, req, urgent=False)
        await routine.step_aside()
        return response


async def _ingest(request: Request, token: str, req: FrameRequest, urgent: bool) -> JSONResponse:
    """Check the frame against its phone and device, then commit it; `urgent`
    (an alarm) goes before routine work waiting for the database, and is checked
    again and committed in one step of the store's, while routine frames step aside."""
    frame = req.frame
    backend = services(request)
    key = (hash_token(token), frame.device_id)
    try:
        if urgent:
            # Judged first (a cached context, else an urgent read): a frame that
            # fails takes neither the writer nor the routine frames' turn.
            await _known_context(request, frame, key, urgent=True)
            with request.app.state.routine.alarm():
                admit = partial(_admit_alarm, req)  # judged again inside its transaction
                context, commit = await backend.store.commit_alarm(*key, admit)
        else:
            context = await _known_context(request, frame, key)
            commit = await backend.store.commit_frame(_new_frame(req, context))
    except KeyRevoked as revoked:
        raise await _revoked(backend, frame, revoked.context) from None
    return _answer(backend, frame, commit, context)


async def _known_context(
    request: Request, frame: wire.Frame, key: tuple[str, int], urgent: bool = False
) -> IngestContext:
    """The context that lets a frame in: the cached one, or read (`urgent`: ahead of
    routine reads) and checked."""
    contexts: ContextCache = request.app.state.contexts
    cached = contexts.get(key)
    if cached is not None and _verified(frame, cached):
        return cached
    context = _checked(frame, await services(request).store.ingest_context(*key, urgent))
    contexts.put(key, context)
    return context


class KeyRevoked(Exception):
    """A frame that verified under a revoked key (a lost or stolen button)."""

    def __init__(self, context: IngestContext) -> None:
        super().__init__("key revoked")
        self.context = context


def _checked(frame: wire.Frame, context: IngestContext | None) -> IngestContext:
    """`context`, if it lets `frame` in; else ApiError saying why, or KeyRevoked."""
    device_hex = f"{frame.device_id:08x}"
    if context is None:
        raise unknown_phone()
    device = context.device
    if device is None:
        raise ApiError(404, "unknown_device", f"No device {device_hex} is registered.")
    if context.linked_device_id != frame.device_id:
        raise ApiError(
            403, "device_not_linked", f"Device {device_hex} is not linked to this phone."
        )
    epoch = frame.counter >> 24
    if epoch != context.token_epoch:
        raise ApiError(
            403,
            "wrong_epoch",
            f"The frame is of device {device_hex}'s key epoch {epoch}; this phone token is "
            f"for epoch {context.token_epoch}: send it with the token of its epoch.",
        )
    if device.mac_key is None:
        raise ApiError(422, "bad_mac", f"Device {device_hex} has no key of epoch {epoch}.")
    if not frame.verify(device.mac_key):
        raise ApiError(
            422, "bad_mac", f"The MAC does not verify with device {device_hex}'s key {epoch}."
        )
    if device.key_status == "revoked":
        raise KeyRevoked(context)
    return context


async def _revoked(backend: Services, frame: wire.Frame, context: IngestContext) -> ApiError:
    """Record a frame under a revoked key (news for every console, the first time)."""
    device_hex = f"{frame.device_id:08x}"
    event = await backend.store.record_security_event(
        frame.device_id, frame.counter, frame.type, context.phone_id
    )
    if event is not None:  # the first time for this frame: news for every console
        backend.channel.publish(security.push_message(event))
    epoch = frame.counter >> 24
    log.warning(
        "security: a %s from device %s under its revoked key %d (counter %d) was refused",
        frame.name,
        device_hex,
        epoch,
        frame.counter,
    )
    return ApiError(
        403,
        "key_revoked",
        f"Device {device_hex}'s key {epoch} was revoked (a lost or stolen button): "
        "nothing stored; the CIC is told.",
    )


def _verified(frame: wire.Frame, context: IngestContext) -> bool:
    """Whether a cached context lets the frame in without asking the database."""
    device = context.device
    return (
        device is not None
        and device.mac_key is not None
        and device.key_status != "revoked"
        and frame.verify(device.mac_key)
    )


def _admit_alarm(
    req: FrameRequest, context: IngestContext | None
) -> tuple[IngestContext, NewFrame]:
    """The store's question for an alarm: does `context` let it in, and what to store."""
    context = _checked(req.frame, context)
    return context, _new_frame(req, context)


def _new_frame(req: FrameRequest, context: IngestContext) -> NewFrame:
    """The frame to store, once `context` let it in."""
    frame = req.frame
    fields = frame.fields()
    alarm = None
    if frame.type in _ALARM_TYPES:
        if context.person_id is None or context.case_id is None:  # phones always have a person
            raise RuntimeError(f"device {frame.device_id:08x} belongs to no person and no case")
        time_s = fields["time_s"]
        # 0: the button's clock was not set; out of the time rule: set wrong (SPEC §7.3)
        pressed_at = time_s * 1000 if time_s and in_window(time_s * 1000) else None
        alarm = NewAlarm(_ALARM_TYPES[frame.type], context.person_id, context.case_id, pressed_at)
    return NewFrame(
        device_id=frame.device_id,
        counter=frame.counter,
        type=frame.type,
        raw=req.raw,
        time_s=fields["time_s"],
        battery_mv=fields["battery_mv"],
        uptime_s=fields.get("uptime_s"),
        battery_pct=_percent(fields.get("battery_pct")),
        flags=fields.get("flags"),
        waiting=fields.get("waiting"),
        waiting_alarms=fields.get("waiting_alarms"),
        phone_id=context.phone_id,
        received_at=req.received_at,
        location=req.location,
        alarm=alarm,
    )


def _answer(
    backend: Services, frame: wire.Frame, commit: Commit, context: IngestContext
) -> JSONResponse:
    """The receipt of a stored frame; an alarm committed now goes to the consoles."""
    if commit.outcome == "counter_reused":
        raise ApiError(
            409,
            "counter_reused",
            f"Device {frame.device_id:08x} already committed a different frame with counter "
            f"{frame.counter} at {to_iso(commit.committed_at)}.",
        )
    if commit.outcome == "committed" and commit.alarm_id is not None:
        backend.announcer.announce(commit.alarm_id, loaded=commit.alarm)
        if backend.chainer is not None:
            backend.chainer.wake()  # its evidence entry, after the push
    return JSONResponse(_receipt(frame, commit, context.device))


def _percent(value: int | None) -> int | None:
    # A signed frame with a charge over 100 % comes from a faulty button: keep
    # the frame (it may be an alarm), not the impossible figure.
    return value if value is None or value <= 100 else None


def _receipt(frame: wire.Frame, commit: Commit, device: Device | None) -> dict[str, Any]:
    # The receipt (SPEC §5.1) lets the button forget the frame: only the key can make it.
    if device is None:  # _ingest checked it; a context from the cache has it too
        raise RuntimeError(f"no key for device {frame.device_id:08x}'s receipt")
    return {
        "status": commit.outcome,
        "type": frame.name,
        "device_id": f"{frame.device_id:08x}",
        "counter": frame.counter,
        "committed_at": to_iso(commit.committed_at),
        "alarm_id": commit.alarm_id,
        "receipt": wire.receipt(device.mac_key, frame.mac).hex(),
    }


routes = [Route("/api/v1/frames", post_frame, methods=["POST"])]
