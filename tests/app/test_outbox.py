"""The phone's outbox: durable, idempotent, alarms first, nothing silently dropped."""

from msa.app.outbox import Outbox
from protocol import frame

KEY = bytes(range(32))


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


def test_delivered_leaves_failed_stays_rejected_is_kept_with_its_reason(tmp_path):
    outbox = Outbox(tmp_path / "o.db")
    for counter in (1, 2, 3):
        outbox.put(make(frame.ALARM, counter), None, float(counter))
    one, two, three = outbox.pending()
    outbox.delivered(one)
    outbox.failed(two, "503 unavailable")
    outbox.rejected(three, "422 bad_mac: ...")
    assert [(e.counter, e.attempts) for e in outbox.pending()] == [(2, 1)]
    assert outbox.rejections() == [(7, 3, "422 bad_mac: ...")]
    assert outbox.count("pending") == 1
