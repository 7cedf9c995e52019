"""protocol/SPEC.md's vectors hold on CPython and on the MicroPython unix port."""

import hashlib
import hmac
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
    kinds = {v.get("error", "hmac" if "hmac" in v else "ok") for v in VECTORS}
    assert kinds == {"ok", "mac", "frame", "hmac"}
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
    extra=st.binary(max_size=24),
    flip=st.integers(0, 8 * (frame.HEADER_SIZE + 10 + MAC_SIZE) - 1),
)
def test_any_flipped_bit_is_refused(kind, device, counter, extra, flip):
    key = bytes(range(32))
    payload = bytes(frame.PAYLOAD_MIN[kind]) + extra
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
