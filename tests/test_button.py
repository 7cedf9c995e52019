"""The button's pin on the real MicroPython interpreter (firmware/button.py): a
press whose both edges come while the interpreter is busy (a flash write, a
radio burst) counts by the times its IRQ noted, as long as it held; bounces and
bumps still raise nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from boards.emulated.interpreter import micropython_path

ROOT = Path(__file__).resolve().parents[1]

# debounce 10 ms, press 20 ms. Each scenario's edges call the pin's IRQ handler
# while time.sleep_ms holds the interpreter, as a blocking flash write does: the
# button's task sees them only afterwards.
PROGRAM = """
import asyncio, time
from firmware.button import Button

class Settings:
    debounce_ms, press_ms, pattern, stuck_ms = 10, 20, "single", 15000
    hold_ms, presses, window_ms = 2000, 3, 3000

class Pin:
    level = 1
    def value(self):
        return self.level
    def irq(self, handler=None):
        self.handler = handler
    def init(self, **_):
        pass

def edges(pin, levels_ms):
    # Each (level, ms): the pin goes to level, and the interpreter is busy for ms.
    for level, ms in levels_ms:
        pin.level = level
        pin.handler(pin)
        time.sleep_ms(ms)

SCENARIOS = {
    "held while busy": [(0, 60), (1, 0)],
    "bouncing, held while busy": [(0, 2), (1, 1), (0, 60), (1, 2), (0, 1), (1, 0)],
    "a bump while busy": [(0, 4), (1, 0)],
    "a short press while busy": [(0, 14), (1, 0)],
}

async def main():
    for name, levels_ms in SCENARIOS.items():
        pin, events = Pin(), []
        button = Button(pin, lambda p: p.value() == 0, Settings())
        task = asyncio.create_task(button.run(events.append))
        await asyncio.sleep_ms(20)
        edges(pin, levels_ms)
        await asyncio.sleep_ms(100)
        task.cancel()
        print(name, "|", " ".join(events))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, list[str]]:
    stubs = tmp_path_factory.mktemp("stubs")
    (stubs / "machine.py").write_text("class Pin:\n    PULL_UP = 1\n")
    result = subprocess.run(
        [micropython_path(), "-c", PROGRAM],
        cwd=ROOT,
        env={"MICROPYPATH": f"{stubs}:{ROOT}:.frozen"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split(" | ") for line in result.stdout.splitlines() if " | " in line]
    return {name: events.split() for name, events in lines}


def test_a_press_held_while_the_interpreter_was_busy_raises_the_alarm(outcomes):
    assert outcomes["held while busy"] == ["alarm"]


def test_bounces_around_a_press_held_while_busy_raise_one_alarm(outcomes):
    assert outcomes["bouncing, held while busy"] == ["alarm"]


def test_a_bump_shorter_than_the_debounce_raises_nothing(outcomes):
    assert outcomes["a bump while busy"] == []


def test_a_press_shorter_than_press_ms_raises_nothing(outcomes):
    assert outcomes["a short press while busy"] == []
