"""firmware/settings.py as the tech desk uses it on CPython: validate() before
writing device.json, and what the button falls back to when a value is bad."""

from __future__ import annotations

import json

import pytest

from firmware import settings

GOOD = {"device_id": 0xC0FFEE, "key": "ab" * 32}


def test_a_minimal_provisioning_is_valid_and_alarms_on_a_single_press():
    assert settings.validate(GOOD) == []
    values, _ = settings.check(GOOD)
    assert values["pattern"] == "single"
    assert settings.make(values).description == "single press of 50 ms"


@pytest.mark.parametrize(
    "changes",
    [
        {"pattern": "long", "hold_ms": 1500},
        {"pattern": "multi", "presses": 3, "window_ms": 2000},
        {"heartbeat_s": 60, "debounce_ms": 20, "press_ms": 80, "stuck_ms": 30000},
        {"watchdog_ms": 8000},
    ],
)
def test_valid_settings(changes):
    assert settings.validate({**GOOD, **changes}) == []


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"pattern": "triple"}, "pattern must be one of single, long, multi"),
        ({"pattern": "long", "hold_ms": 40}, "hold_ms must be a whole number from 500"),
        ({"pattern": "multi", "presses": 6, "window_ms": 1000}, "at least 1200 for 6 presses"),
        ({"press_ms": 20, "debounce_ms": 30}, "press_ms must be longer than debounce_ms"),
        ({"heartbeat_s": "900"}, "heartbeat_s must be a whole number"),
        ({"heartbeat_s": True}, "heartbeat_s must be a whole number"),
        ({"hartbeat_s": 60}, "'hartbeat_s' is not a setting"),
        ({"key": "ab" * 31}, "key must be 64 hexadecimal digits"),
        ({"device_id": 0}, "device_id must be a whole number"),
    ],
)
def test_each_mistake_is_named(changes, says):
    problems = settings.validate({**GOOD, **changes})
    assert any(says in p for p in problems), problems


def test_a_broken_pattern_falls_back_to_the_single_press_never_to_silence():
    values, problems = settings.check({**GOOD, "pattern": "multi", "presses": 99})
    assert problems and values["pattern"] == "single"
    values, _ = settings.check({**GOOD, "pattern": "long", "hold_ms": "2s"})
    assert values["pattern"] == "single"


def test_the_button_loads_a_bad_file_with_defaults_and_says_so(tmp_path, capsys):
    path = tmp_path / "device.json"
    path.write_text(json.dumps({**GOOD, "pattern": "long", "hold_ms": 1}))
    loaded = settings.load(str(path))
    assert loaded is not None and loaded.pattern == "single"
    out = capsys.readouterr().out
    assert "hold_ms must be a whole number" in out and "single press" in out


def test_without_a_key_the_button_stays_off_and_says_why(tmp_path, capsys):
    path = tmp_path / "device.json"
    path.write_text(json.dumps({"device_id": 5}))
    assert settings.load(str(path)) is None
    assert "key must be 64 hexadecimal digits" in capsys.readouterr().out
    path.write_text("{not json")
    assert settings.load(str(path)) is None
    assert "not valid JSON" in capsys.readouterr().out


def test_a_key_epoch_is_a_whole_number_from_0_to_255_and_without_it_no_radio(tmp_path, capsys):
    assert (
        settings.validate({**GOOD, "epoch": 0}) == settings.validate({**GOOD, "epoch": 255}) == []
    )
    assert settings.check(GOOD)[0]["epoch"] == 0
    for bad in (-1, 256, "1", 1.0, True):
        assert any("epoch must be" in p for p in settings.validate({**GOOD, "epoch": bad}))
    path = tmp_path / "device.json"
    path.write_text(json.dumps({**GOOD, "epoch": 300}))
    assert settings.load(str(path)) is None  # counters of another epoch could collide
    assert "epoch must be a whole number from 0 to 255" in capsys.readouterr().out


def test_reduced_mode_keeps_who_the_button_is_and_a_single_press(tmp_path):
    path = tmp_path / "device.json"
    broken = {**GOOD, "epoch": 2, "pattern": "multi", "presses": 4, "unreceipted_s": 60}
    path.write_text(json.dumps({**broken, "heartbeat_s": 120}))
    reduced = settings.load(str(path), reduced=True)
    assert reduced is not None
    assert (reduced.device_id, reduced.epoch, reduced.heartbeat_s) == (0xC0FFEE, 2, 120)
    assert (reduced.pattern, reduced.unreceipted_s) == ("single", 60)
    path.write_text(json.dumps({**broken, "heartbeat_s": "often"}))
    assert settings.load(str(path), reduced=True).heartbeat_s == 3600  # not provisioned: 1 h
