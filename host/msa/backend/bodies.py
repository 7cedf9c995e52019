"""Request bodies from phones and operators: read, parse and bound (protocol/SPEC.md §7.3).

Everything a client sends is bounded before it is used: the body's size, its
JSON nesting depth, the size of its numbers, and every instant (the time rule,
`check_instant`). Whatever breaks a bound is an `ApiError` 400 saying which and
why; nothing here can raise anything else on any input.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from msa.backend.errors import ApiError, invalid
from msa.backend.store.base import Location
from msa.timefmt import now_ms, parse_iso, to_iso

MAX_BODY_BYTES = 4096
MAX_DEPTH = 8  # the deepest body of the API has 2 levels (a frame and its location)
MAX_NUMBER_CHARS = 32  # a JSON number longer than this is no coordinate, count or time

# The time rule: every instant a phone or a button sends lies between EARLIEST
# and the backend's own clock plus CLOCK_SKEW_MS (SPEC §7.3).
EARLIEST_MS = parse_iso("2020-01-01T00:00:00Z")
CLOCK_SKEW_MS = 5 * 60 * 1000


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, refused (400) once it grows past `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def too_large(limit: int) -> ApiError:
    return invalid(f"The body is larger than {limit} bytes.")


def parse_json(body: bytes) -> Any:
    """A request body's JSON; ApiError 400 for anything else.

    Refused: invalid JSON or UTF-8, NaN and Infinity, nesting deeper than
    MAX_DEPTH, and numbers longer than MAX_NUMBER_CHARS or out of a double's range.
    """
    depth = nesting_depth(body)
    if depth > MAX_DEPTH:
        raise invalid(f"The body nests {depth} levels deep; at most {MAX_DEPTH} are allowed.")
    try:
        return json.loads(
            body,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
        )
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise invalid(f"The body is not valid JSON: {error}.") from None


def nesting_depth(body: bytes) -> int:
    """The deepest nesting of `[` and `{` in a JSON text, strings skipped.

    A scan without recursion, so that no body can exhaust the parser's stack.
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"the number {text[:12]}… has more than {MAX_NUMBER_CHARS} digits")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"the number {text[:12]}… is longer than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def json_object(body: bytes, what: str = "a JSON object") -> dict[str, Any]:
    data = parse_json(body)
    if not isinstance(data, dict):
        raise invalid(f"The body must be {what}.")
    return data


# --- instants ---------------------------------------------------------------


def in_window(ms: int, now: int | None = None) -> bool:
    """Whether an instant keeps the time rule: from 2020 to the backend's clock + 5 min."""
    latest = (now_ms() if now is None else now) + CLOCK_SKEW_MS
    return EARLIEST_MS <= ms <= latest


def out_of_window(name: str, text: object) -> ApiError:
    return ApiError(
        400,
        "invalid_time",
        f"'{name}' is {text}: times must lie between {to_iso(EARLIEST_MS)} and five "
        "minutes past the backend's clock; check the phone's clock.",
    )


def parse_instant(value: object, name: str) -> int:
    """An ISO 8601 instant that keeps the time rule, as epoch ms; 400 otherwise."""
    ms = parse_any_instant(value, name)
    if not in_window(ms):
        raise out_of_window(name, value)
    return ms


def parse_any_instant(value: object, name: str) -> int:
    """An ISO 8601 instant as epoch ms, whatever its year; 400 when it is none."""
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be an ISO 8601 time such as 2026-11-23T19:02:03.456Z.")
    if len(value) > 64:
        raise invalid(f"'{name}' is longer than any ISO 8601 time.")
    try:
        return parse_iso(value)
    except ValueError as error:
        raise invalid(f"'{name}': {error}.") from None


# --- locations --------------------------------------------------------------


def number(data: dict[str, Any], key: str, low: float, high: float, prefix: str = "") -> float:
    value = data.get(key)
    # bool is an int in Python, but true is no coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"'{prefix}{key}' must be a number.")
    if not low <= value <= high:  # exact for ints of any size: no float conversion
        raise invalid(f"'{prefix}{key}' must lie between {low:g} and {high:g}; it is {value}.")
    return float(value)


def parse_location(value: object, *, keep_bad_time: bool = False) -> Location | None:
    """A location object (or null); with `keep_bad_time`, a `fix_at` out of the
    time rule is taken as unknown (None) instead of refused (an alarm's own fix)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("'location' must be an object with lat and lon, or null.")
    lat = number(value, "lat", -90, 90, "location.")
    lon = number(value, "lon", -180, 180, "location.")
    accuracy_m = None
    if value.get("accuracy_m") is not None:
        accuracy_m = number(value, "accuracy_m", 0, 1e7, "location.")
    fix_at = value.get("fix_at")
    if fix_at is not None:
        fix_at = parse_any_instant(fix_at, "location.fix_at")
        if not in_window(fix_at):
            if not keep_bad_time:
                raise out_of_window("location.fix_at", value["fix_at"])
            fix_at = None
    return Location(lat, lon, accuracy_m, fix_at)


async def form_fields(request: Request, limit: int) -> dict[str, str]:
    """A page's form post (application/x-www-form-urlencoded): the first value of each
    field, at most `limit` bytes in all."""
    body = await read_body(request, limit)
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
