"""The button's outbox in flash (firmware/outbox.py, plain Python: run here on
CPython, and on MicroPython by every HIL case): counters are reserved in blocks,
so the most rewritten file is written once every 16 frames; a restart at any
point never gives out a counter again; a key epoch starts at its own first
counter and ends at its last; a full flash uses no counter; the outbox is asked,
never loaded."""

from __future__ import annotations

import errno

import pytest

from firmware import outbox as outbox_module
from firmware.outbox import COUNTER_BLOCK, Exhausted, Outbox
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


def add(box: Outbox, kind: int = frame.HEARTBEAT) -> int:
    payload = frame.encode(kind, 0, 3000, 0) if kind == frame.HEARTBEAT else bytes(6)
    return frame.parse(box.add(KEY, kind, 1, payload)).counter


def forget_all(box: Outbox) -> None:
    while (name := box.head()) is not None:
        box.remove(name)


def test_the_counter_file_is_written_once_per_block_of_frames(flash):
    box = Outbox()
    counters = [add(box) for _ in range(4 * COUNTER_BLOCK)]
    assert counters == list(range(1, 4 * COUNTER_BLOCK + 1))
    assert flash.count("data/counter") == 4  # not 64
    assert len([w for w in flash if w.startswith("data/outbox/")]) == 4 * COUNTER_BLOCK


@pytest.mark.parametrize("used", [1, 7, COUNTER_BLOCK - 1, COUNTER_BLOCK, COUNTER_BLOCK + 1])
def test_a_restart_at_any_point_never_reuses_a_counter(flash, used):
    box = Outbox()
    given = [add(box) for _ in range(used)]
    forget_all(box)  # every receipt came: the outbox is empty
    after_restart = add(Outbox())
    assert after_restart > max(given)
    assert after_restart - max(given) <= COUNTER_BLOCK  # at most a block is skipped


def test_a_new_epoch_starts_at_its_first_counter_whatever_the_last_one_used(flash):
    box = Outbox(epoch=0)
    for _ in range(3):
        add(box)
    assert add(Outbox(epoch=2)) == frame.first_counter(2)
    # Back to an older epoch in device.json: its key cannot sign what comes next.
    with pytest.raises(Exhausted):
        add(Outbox(epoch=1))


def test_an_epoch_refuses_to_build_frames_past_its_last_sequence(flash, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "counter").write_text(str(frame.last_counter(0)))
    box = Outbox(epoch=0)
    assert add(box) == frame.last_counter(0)
    with pytest.raises(Exhausted):
        add(box)
    assert add(Outbox(epoch=1)) == frame.first_counter(1)  # a new key, a new epoch


def test_a_full_flash_uses_no_counter_and_the_next_try_reserves_again(flash, monkeypatch):
    box = Outbox()
    real = outbox_module.write_atomic

    def full(path, data):
        raise OSError(errno.ENOSPC, "no space")

    monkeypatch.setattr(outbox_module, "write_atomic", full)
    with pytest.raises(OSError):
        add(box)
    monkeypatch.setattr(outbox_module, "write_atomic", real)
    assert add(box) == 1  # the counter was not used: no gap, no reuse
    assert add(Outbox()) > 1


def test_an_unreadable_counter_is_a_start_up_error_never_a_counter_from_one(flash, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "counter").mkdir()  # reading it fails, and not with "no such file"
    with pytest.raises(OSError):
        Outbox()


def test_the_outbox_answers_by_walking_the_folder(flash):
    box = Outbox()
    beats = [add(box) for _ in range(3)]
    alarm = add(box, frame.ALARM)
    assert box.count() == (4, 1)
    assert outbox_module.counter_of(box.head()) == beats[0]
    assert outbox_module.counter_of(box.head(beats[1] + 1)) == beats[2]
    assert box.head(alarm + 1) is None
    assert box.find(alarm) == outbox_module.name_of(alarm, frame.ALARM)
    assert box.find(alarm + 1) is None
    assert box.drop_heartbeat(2)  # three wait: the oldest goes
    assert not box.drop_heartbeat(2)
    assert outbox_module.counter_of(box.head()) == beats[1]


def test_a_write_a_power_cut_interrupted_is_cleared_and_never_counted(flash, tmp_path):
    box = Outbox()
    add(box)
    (tmp_path / "data" / "outbox" / "00000002-03.tmp").write_bytes(b"half")
    assert Outbox().count() == (1, 0)
    assert not (tmp_path / "data" / "outbox" / "00000002-03.tmp").exists()
