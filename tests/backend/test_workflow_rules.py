"""The workflow's rulebook (msa.backend.workflow), as a pure function."""

from __future__ import annotations

import pytest

from msa.backend.workflow import (
    STATUSES,
    Acknowledge,
    Close,
    ConfirmTest,
    Dispatch,
    Invalid,
    OnScene,
    Refused,
    State,
    add_months,
    decide,
    extended_end,
    validate,
)

STEPS = [Acknowledge(), Dispatch("GE-21", "PZ Gent"), OnScene(), Close("false", None)]
DONE = State("alarm", "closed", "GE-21", "PZ Gent", "false", None)


@pytest.mark.parametrize("here", STATUSES)
def test_a_stalking_alarm_takes_exactly_the_next_step(here):
    state = State("alarm", here, "GE-21", "PZ Gent", "false", None)
    position = STATUSES.index(here)
    for index, step in enumerate(STEPS):
        if index < position:
            assert decide(state, step) == "unchanged"
        elif index == position:
            assert decide(state, step) == "apply"
        else:
            with pytest.raises(Refused) as refused:
                decide(state, step)
            assert refused.value.code == "invalid_transition"


def test_no_step_skips_the_patrol():
    for here in ("open", "acknowledged"):
        with pytest.raises(Refused, match="never closed without a dispatched patrol"):
            decide(State("alarm", here), Close("real", "GE.60.L1.1/26"))


def test_a_repeat_with_other_data_is_refused():
    with pytest.raises(Refused) as refused:
        decide(DONE, Dispatch("GE-22", "PZ Gent"))
    assert refused.value.code == "already_dispatched"
    with pytest.raises(Refused) as refused:
        decide(DONE, Close("real", "GE.60.L1.1/26"))
    assert refused.value.code == "already_closed"
    assert decide(DONE, Close("false", None)) == "unchanged"


def test_a_test_alarm_has_no_patrol_and_a_stalking_alarm_is_no_test():
    test = State("test_alarm", "acknowledged")
    for step in STEPS[1:]:
        with pytest.raises(Refused, match="no patrol goes"):
            decide(test, step)
    assert decide(test, ConfirmTest()) == "apply"
    with pytest.raises(Refused, match="acknowledge it first"):
        decide(State("test_alarm", "open"), ConfirmTest())
    with pytest.raises(Refused) as refused:
        decide(State("alarm", "acknowledged"), ConfirmTest())
    assert refused.value.code == "not_a_test"


@pytest.mark.parametrize(
    ("step", "says"),
    [
        (Dispatch("", "PZ Gent"), "patrol"),
        (Dispatch("x" * 41, "PZ Gent"), "patrol"),
        (Dispatch("GE-21", " "), "zone"),
        (Close("cancelled", None), "outcome"),
        (Close("real", None), "PV number"),
        (Close("misuse", "  "), "PV number"),
        (Close("false", "ab"), "pv_number"),
        (Close("test", "GE.60\nL1"), "pv_number"),
        (Dispatch("GE\n21", "PZ Gent"), "patrol"),
    ],
)
def test_bad_step_data(step, says):
    with pytest.raises(Invalid, match=says):
        validate(step)


def test_step_data_is_trimmed_and_a_pv_is_optional_for_false_and_test():
    assert validate(Dispatch(" GE-21 ", " PZ Gent ")) == Dispatch("GE-21", "PZ Gent")
    assert validate(Close("false", "  ")) == Close("false", None)
    assert validate(Close("test", None)) == Close("test", None)
    assert validate(Close("real", " GE.60.L1.004321/26 ")) == Close("real", "GE.60.L1.004321/26")


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ("2027-07-05", 9, "2028-04-05"),
        ("2026-05-31", 9, "2027-02-28"),
        ("2027-05-31", 9, "2028-02-29"),  # a leap year
        ("2026-12-15", 1, "2027-01-15"),
        ("2026-03-31", 0, "2026-03-31"),
    ],
)
def test_add_months_clamps_the_day(start, months, end):
    assert add_months(start, months) == end


def test_a_real_alarm_extends_from_the_end_or_from_the_alarm_day():
    assert extended_end("2027-07-05", "2026-11-23") == "2028-04-05"
    assert extended_end("2026-01-01", "2026-11-23") == "2027-08-23"  # already past its end
    assert extended_end(None, "2026-11-23") == "2027-08-23"
