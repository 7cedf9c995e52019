"""The phone's outbox: durable, idempotent, alarms first, nothing silently dropped."""

import sqlite3

from msa.app.outbox import Outbox
from protocol import frame

KEY = bytes(range(32))
RECEIPT = bytes(range(16))


def make(kind, counter, device=7):
    payload = bytes(frame.PAYLOAD_MIN[kind])
    return frame.parse(frame.sign(KEY, kind, device, counter, payload))


def test_a_frame_enters_once_and_survives_a_restart(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    assert outbox.put(make(frame.ALARM, 5), {"lat": 1.0, "lon": 2.0}, 100.0)
    assert not outbox.put(make(frame.ALARM, 5), None, 101.0)  # the button re-sent it
    outbox.close()

    reopened = Outbox(tmp_path / "o.db")
    [entry] = reopened.pending()
    assert (entry.counter, entry.received_at, entry.location) == (
        5,
        100.0,
        {"lat": 1.0, "lon": 2.0},
    )
    assert frame.parse(entry.data).verify(KEY)


def test_alarms_are_forwarded_before_routine_frames(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    outbox.put(make(frame.HEARTBEAT, 1), None, 1.0)
    outbox.put(make(frame.HEARTBEAT, 2), None, 2.0)
    outbox.put(make(frame.ALARM, 3), None, 3.0)
    outbox.put(make(frame.TEST_ALARM, 4), None, 4.0)
    assert [e.counter for e in outbox.pending()] == [3, 4, 1, 2]


def test_delivered_waits_for_the_button_failed_stays_rejected_is_kept_with_its_reason(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    for counter in (1, 2, 3):
        outbox.put(make(frame.ALARM, counter), None, float(counter))
    one, two, three = outbox.pending()
    outbox.delivered(one, RECEIPT)
    outbox.failed(two, "503 unavailable")
    outbox.rejected(three, "422 bad_mac: ...")
    assert [(e.counter, e.attempts) for e in outbox.pending()] == [(2, 1)]
    assert outbox.rejections() == [(7, 3, "422 bad_mac: ...")]
    assert outbox.count("pending") == 1


def test_a_delivered_frame_keeps_its_receipt_across_a_restart_until_the_button_has_it(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    outbox.put(make(frame.ALARM, 1), None, 1.0)
    outbox.put(make(frame.ALARM, 2), None, 2.0)
    first, _ = outbox.pending()
    outbox.delivered(first, RECEIPT)
    outbox.close()

    reopened = Outbox(tmp_path / "o.db")
    assert [e.counter for e in reopened.pending()] == [2]  # never forwarded twice
    assert reopened.receipts(7) == [(1, RECEIPT)]
    assert reopened.receipt(7, 1) == RECEIPT and reopened.receipt(7, 2) is None
    assert reopened.holds(7, 1) and reopened.count("delivered") == 1
    reopened.receipted(7, 1)
    assert reopened.receipts(7) == [] and not reopened.holds(7, 1)


def test_a_delivered_frame_without_a_receipt_leaves_at_once(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    outbox.put(make(frame.ALARM, 1), None, 1.0)
    [entry] = outbox.pending()
    outbox.delivered(entry, None)  # a backend from before receipts
    assert not outbox.holds(7, 1)


def test_a_frame_set_aside_waits_its_time_and_is_never_dropped(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    outbox.put(make(frame.ALARM, 1), None, 1.0)
    [entry] = outbox.pending()
    outbox.later(entry, "501 unsupported_version", 600)
    assert outbox.pending() == []
    due = outbox.next_retry()
    assert due is not None
    [again] = outbox.pending(now=due)
    assert (again.counter, again.attempts) == (1, 1)
    assert outbox.count("pending") == 1 and outbox.rejections() == []


def test_an_outbox_from_before_receipts_gets_the_new_columns(tmp_path):
    old = sqlite3.connect(tmp_path / "o.db")
    old.executescript(
        "CREATE TABLE outbox (device_id INTEGER NOT NULL, counter INTEGER NOT NULL,"
        " type INTEGER NOT NULL, data BLOB NOT NULL, received_at REAL NOT NULL, location TEXT,"
        " status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
        " last_error TEXT, PRIMARY KEY (device_id, counter));"
    )
    old.execute(
        "INSERT INTO outbox (device_id, counter, type, data, received_at) VALUES (?, ?, ?, ?, ?)",
        (7, 1, frame.ALARM, make(frame.ALARM, 1).to_bytes(), 1.0),
    )
    old.commit()
    old.close()
    outbox = Outbox(tmp_path / "o.db")
    [entry] = outbox.pending()
    outbox.delivered(entry, RECEIPT)
    assert outbox.receipts(7) == [(1, RECEIPT)]
