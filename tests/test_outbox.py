"""The button's outbox in flash (firmware/outbox.py, plain Python: run here on
CPython, and on MicroPython by every HIL case): counters are reserved in blocks,
so the most rewritten file is written once every 16 frames, and a restart at any
point never gives out a counter again."""

from __future__ import annotations

import pytest

from firmware import outbox as outbox_module
from firmware.outbox import COUNTER_BLOCK, Outbox
from protocol import frame

KEY = bytes(32)


@pytest.fixture
def flash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    writes: list[str] = []
    real = outbox_module.write_atomic

    def counting(path, data):
        writes.append(path)
        real(path, data)

    monkeypatch.setattr(outbox_module, "write_atomic", counting)
    return writes


def heartbeat(box: Outbox) -> int:
    data = box.add(KEY, frame.HEARTBEAT, 1, frame.heartbeat_payload(0, 3000, 0))
    return frame.parse(data).counter


def test_the_counter_file_is_written_once_per_block_of_frames(flash):
    box = Outbox()
    counters = [heartbeat(box) for _ in range(4 * COUNTER_BLOCK)]
    assert counters == list(range(1, 4 * COUNTER_BLOCK + 1))
    assert flash.count("data/counter") == 4  # not 64
    assert len([w for w in flash if w.startswith("data/outbox/")]) == 4 * COUNTER_BLOCK


@pytest.mark.parametrize("used", [1, 7, COUNTER_BLOCK - 1, COUNTER_BLOCK, COUNTER_BLOCK + 1])
def test_a_restart_at_any_point_never_reuses_a_counter(flash, used):
    box = Outbox()
    given = [heartbeat(box) for _ in range(used)]
    for name in list(box._names):  # the phone acknowledged them all: the queue is empty
        box._remove(name)
    after_restart = heartbeat(Outbox())
    assert after_restart > max(given)
    assert after_restart - max(given) <= COUNTER_BLOCK  # at most a block is skipped
