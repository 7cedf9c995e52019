"""protocol/SPEC.md's vectors hold on CPython and on the MicroPython unix port."""

import hashlib
import hmac
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boards.emulated.interpreter import micropython_path
from protocol import frame
from protocol.mac import MAC_SIZE, hmac_sha256
from tests import vector_check

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "protocol" / "SPEC.md"
VECTORS = vector_check.load(SPEC.read_text())


def test_spec_has_vectors_of_every_kind():
    kinds = {v.get("error", "hmac" if "hmac" in v else "receipt" if "receipt" in v else "ok")
             for v in VECTORS}  # fmt: skip
    assert kinds == {"ok", "mac", "frame", "hmac", "receipt"}
    assert {int(v["type"], 16) for v in VECTORS if "type" in v} == set(frame.NAMES)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_on_cpython(vector):
    assert vector_check.check(vector) is None


def test_vectors_on_micropython():
    result = subprocess.run(
        [micropython_path(), "tests/vector_check.py", str(SPEC)],
        cwd=ROOT,
        env={"MICROPYPATH": f".frozen:{ROOT}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines == {v["name"]: "ok" for v in VECTORS}


@given(key=st.binary(max_size=200), message=st.binary(max_size=300))
def test_mac_matches_the_standard_library(key, message):
    assert hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).digest()


@given(
    kind=st.sampled_from([frame.ALARM, frame.TEST_ALARM, frame.HEARTBEAT]),
    device=st.integers(0, 2**32 - 1),
    counter=st.integers(1, 2**32 - 1),
    extra=st.binary(max_size=19),  # the heartbeat, all 15 bytes known, then up to 34
    flip=st.integers(0, 8 * (frame.HEADER_SIZE + 10 + MAC_SIZE) - 1),
)
def test_any_flipped_bit_is_refused(kind, device, counter, extra, flip):
    key = bytes(range(32))
    counter = counter if frame.sequence_of(counter) else counter | 1
    # Every field this version knows, whole, then bytes a later version may append.
    payload = bytes(struct.calcsize(">" + frame.FIELDS[kind][0])) + extra
    data = bytearray(frame.sign(key, kind, device, counter, payload))
    assert frame.parse(data).verify(key)
    data[(flip // 8) % len(data)] ^= 1 << (flip % 8)
    try:
        tampered = frame.parse(data)
    except frame.FrameError:
        return
    assert not tampered.verify(key)


def test_frames_fit_one_notification_at_the_minimum_mtu():
    biggest = frame.sign(bytes(32), frame.HEARTBEAT, 1, 1, bytes(frame.MAX_PAYLOAD))
    assert len(biggest) == frame.MAX_FRAME <= frame.MIN_ATT_MTU - 3
    with pytest.raises(frame.FrameError):
        frame.sign(bytes(32), frame.HEARTBEAT, 1, 1, bytes(frame.MAX_PAYLOAD + 1))


@pytest.mark.parametrize("kind", sorted(frame.FIELDS))
def test_a_payload_is_refused_exactly_when_it_ends_inside_a_field(kind):
    sizes = [struct.calcsize(code) for code in frame.FIELDS[kind][0]]
    ends = {sum(sizes[:n]) for n in range(frame.REQUIRED[kind], len(sizes) + 1)}
    full = sum(sizes)
    for length in range(frame.MAX_PAYLOAD + 1):
        valid = length in ends or length > full
        try:
            frame.sign(bytes(32), kind, 1, 1, bytes(length))
        except frame.FrameError:
            assert not valid, length
        else:
            assert valid, length


@pytest.mark.parametrize(("kind", "size"), sorted(frame.CONTROL_SIZE.items()))
def test_a_control_frame_has_exactly_its_payload(kind, size):
    assert frame.parse(frame.control(kind, 1, 0, bytes(size))).payload == bytes(size)
    for wrong in {0, size - 1, size + 1} - {size}:
        if wrong >= 0:
            with pytest.raises(frame.FrameError):
                frame.control(kind, 1, 0, bytes(wrong))


def test_the_counter_is_the_epoch_over_the_sequence():
    assert frame.first_counter(0) == 1 and frame.first_counter(3) == 3 << 24 | 1
    assert frame.last_counter(3) == (3 << 24) + frame.MAX_SEQUENCE == frame.first_counter(4) - 2
    counter = frame.first_counter(200) + 41
    assert (frame.epoch_of(counter), frame.sequence_of(counter)) == (200, 42)
    for epoch in (0, 1, 255):
        with pytest.raises(frame.FrameError, match="sequence 0"):
            frame.sign(bytes(32), frame.ALARM, 1, epoch << 24, bytes(6))


def test_a_receipt_is_the_devices_mac_over_the_frames_mac():
    key = bytes(range(32))
    data = frame.sign(key, frame.ALARM, 1, 5, frame.alarm_payload(0, 3000))
    mac = frame.parse(data).mac
    expected = hmac.new(key, b"msa-receipt" + mac, hashlib.sha256).digest()[:16]
    assert frame.receipt(key, mac) == expected
    assert frame.receipt(bytes(32), mac) != expected  # only the device's key makes it
