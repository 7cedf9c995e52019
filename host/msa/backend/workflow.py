"""The CIC operator's workflow on an alarm: which step may follow which, and what it needs.

A stalking alarm goes forward only, one step at a time:

    open ─► acknowledged ─► dispatched ─► on_scene ─► closed (outcome, PV)

A patrol always goes (COL 03/2023 §3): no step skips the dispatch, so an alarm is
never closed without a dispatched patrol; nothing goes back, and there is no
cancel at all (the button cannot cancel an alarm). A provisioning test alarm
needs no patrol: it is acknowledged, then confirmed (closed with outcome `test`).

`decide` is the whole rulebook, as a pure function: the store applies its answer
in one transaction. Repeating a step that was done with the same data is
`unchanged` (an idempotent retry); anything else out of order is refused with
the reason and what to do next.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from typing import Literal

STATUSES = ("open", "acknowledged", "dispatched", "on_scene", "closed")
OUTCOMES = ("real", "false", "test", "misuse")
# A PV is required for these outcomes; for a false alarm or a test it is optional.
PV_REQUIRED = ("real", "misuse")
# The magistrate is told of every closed alarm but a false one (circular §3.6).
NOTIFY_MAGISTRATE = ("real", "test", "misuse")
EXTENSION_MONTHS = 9

PV_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./ -]{2,39}$")
PATROL = re.compile(r"^\S(.{0,38}\S)?$")

Kind = Literal["alarm", "test_alarm"]


@dataclass(frozen=True, slots=True)
class Acknowledge:
    name = "acknowledge"


@dataclass(frozen=True, slots=True)
class Dispatch:
    patrol: str  # the patrol's call sign, e.g. "GE-21"
    zone: str  # the police zone that sends it
    name = "dispatch"


@dataclass(frozen=True, slots=True)
class OnScene:
    name = "on_scene"


@dataclass(frozen=True, slots=True)
class Close:
    outcome: str
    pv_number: str | None
    name = "close"


@dataclass(frozen=True, slots=True)
class ConfirmTest:
    name = "confirm_test"


Step = Acknowledge | Dispatch | OnScene | Close | ConfirmTest

# The status each step leads to, and the one it must start from.
TARGET = {
    "acknowledge": "acknowledged",
    "dispatch": "dispatched",
    "on_scene": "on_scene",
    "close": "closed",
    "confirm_test": "closed",
}
_FROM = {
    "acknowledge": "open",
    "dispatch": "acknowledged",
    "on_scene": "dispatched",
    "close": "on_scene",
    "confirm_test": "acknowledged",
}

# The steps each kind of alarm may take: a test alarm is confirmed, never patrolled.
STEPS_OF: dict[str, tuple[str, ...]] = {
    "alarm": ("acknowledge", "dispatch", "on_scene", "close"),
    "test_alarm": ("acknowledge", "confirm_test"),
}
# (code, detail) of the refusal of a step the alarm's kind does not take.
_WRONG_KIND = {
    "test_alarm": (
        "test_alarm",
        "This is a provisioning test alarm, not a stalking alarm: no patrol goes. "
        "Acknowledge it, then confirm the test.",
    ),
    "alarm": (
        "not_a_test",
        "This is a STALKING ALARM, not a test: a patrol must go. Dispatch one.",
    ),
}


def next_steps(kind: str, status: str) -> list[str]:
    """The steps that move an alarm of `kind` on from `status` (the console's buttons)."""
    return [name for name in STEPS_OF[kind] if _FROM[name] == status]


@dataclass(frozen=True, slots=True)
class State:
    """An alarm's workflow as stored."""

    kind: Kind
    status: str
    patrol: str | None = None
    patrol_zone: str | None = None
    outcome: str | None = None
    pv_number: str | None = None


class Refused(Exception):
    """A step that may not be taken now; `code` is the API's error code (HTTP 409)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Invalid(ValueError):
    """A step whose data is wrong (HTTP 400), whatever the alarm's state."""


def validate(step: Step) -> Step:
    """The step with its text fields trimmed; raises Invalid saying what is wrong."""
    if isinstance(step, Dispatch):
        patrol, zone = step.patrol.strip(), step.zone.strip()
        if not PATROL.fullmatch(patrol):
            raise Invalid("'patrol' must name the patrol (its call sign), 1 to 40 characters.")
        if not zone:
            raise Invalid("'zone' must name the police zone that sends the patrol.")
        return Dispatch(patrol, zone)
    if isinstance(step, Close):
        if step.outcome not in OUTCOMES:
            raise Invalid(f"'outcome' must be one of {', '.join(OUTCOMES)}.")
        pv = (step.pv_number or "").strip() or None
        if pv is None and step.outcome in PV_REQUIRED:
            raise Invalid(f"A {step.outcome} alarm is closed with its PV number ('pv_number').")
        if pv is not None and not PV_NUMBER.fullmatch(pv):
            raise Invalid(
                "'pv_number' must be 3 to 40 letters, digits, '.', '/', '-' or spaces, "
                "such as GE.60.L1.004321/26."
            )
        return Close(step.outcome, pv)
    return step


def decide(state: State, step: Step) -> Literal["apply", "unchanged"]:
    """Whether `step` moves the alarm on (`apply`) or was done already (`unchanged`).

    Raises Refused when it may not be taken: out of order, of the wrong kind of
    alarm, or a repeat with other data than the first time.
    """
    if step.name not in STEPS_OF[state.kind]:
        raise Refused(*_WRONG_KIND[state.kind])
    here = STATUSES.index(state.status)
    target = STATUSES.index(TARGET[step.name])
    if here >= target:
        _same_or_refuse(state, step)
        return "unchanged"
    if state.status != _FROM[step.name]:
        raise Refused("invalid_transition", _what_first(state, step))
    return "apply"


def _same_or_refuse(state: State, step: Step) -> None:
    if isinstance(step, Dispatch) and (state.patrol, state.patrol_zone) != (step.patrol, step.zone):
        raise Refused(
            "already_dispatched",
            f"Patrol {state.patrol} ({state.patrol_zone}) was dispatched already; "
            "a dispatch is recorded once.",
        )
    if isinstance(step, Close) and (state.outcome, state.pv_number) != (
        step.outcome,
        step.pv_number,
    ):
        raise Refused(
            "already_closed",
            f"This alarm was closed already (outcome {state.outcome}, PV "
            f"{state.pv_number or 'none'}); a closed alarm does not change.",
        )


def _what_first(state: State, step: Step) -> str:
    needed = {
        "open": "acknowledge it first",
        "acknowledged": "dispatch a patrol first" if state.kind == "alarm" else "confirm the test",
        "dispatched": "record the patrol on scene first",
        "on_scene": "close it",
        "closed": "it is closed",
    }[state.status]
    if step.name == "close" and state.status in ("open", "acknowledged"):
        return f"An alarm is never closed without a dispatched patrol: {needed}."
    return (
        f"Cannot {_VERBS[step.name]} an alarm that is {state.status.replace('_', ' ')}: {needed}."
    )


_VERBS = {
    "acknowledge": "acknowledge",
    "dispatch": "dispatch a patrol for",
    "on_scene": "record the patrol on scene for",
    "close": "close",
    "confirm_test": "confirm the test of",
}


def add_months(iso_date: str, months: int) -> str:
    """`YYYY-MM-DD` plus whole calendar months, the day clamped to the month's end."""
    year, month, day = (int(part) for part in iso_date.split("-"))
    index = year * 12 + (month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    days = calendar.monthrange(year, month)[1]
    return f"{year:04d}-{month:02d}-{min(day, days):02d}"


def extended_end(ends_on: str | None, alarm_day: str) -> str:
    """The end of the measure after a real alarm on `alarm_day`: nine months more.

    From the current end; a measure without an end, or already past it, runs nine
    months from the alarm's day.
    """
    start = ends_on if ends_on is not None and ends_on >= alarm_day else alarm_day
    return add_months(start, EXTENSION_MONTHS)
