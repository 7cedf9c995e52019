# The msa wire frame, version 1. protocol/SPEC.md is the authority; this file
# must run unchanged on MicroPython and CPython (no typing, no dataclasses).
import struct

from .mac import MAC_SIZE, MacKey, equal

VERSION = 1

# Frame types. Below 0x80: button -> backend, signed with the device key.
ALARM = 0x01
TEST_ALARM = 0x02
HEARTBEAT = 0x03
BATTERY_LOW = 0x04
# From 0x80: phone -> button control frames, unsigned (they only travel on
# the encrypted, bonded BLE link).
ACK = 0x81
TIME = 0x82

NAMES = {
    ALARM: "alarm",
    TEST_ALARM: "test_alarm",
    HEARTBEAT: "heartbeat",
    BATTERY_LOW: "battery_low",
    ACK: "ack",
    TIME: "time",
}

# Minimum payload length per type; longer payloads are accepted and the
# extra bytes ignored, so that later versions can append fields.
PAYLOAD_MIN = {ALARM: 6, TEST_ALARM: 6, HEARTBEAT: 10, BATTERY_LOW: 7, ACK: 0, TIME: 4}

# Heartbeat flags (SPEC §3): what the button wants the police to know.
STUCK = 0x01  # the button has been held down for longer than a press
LOW_BATTERY = 0x02  # below the low-battery threshold (and not yet back above it)
RECOVERED = 0x04  # rebooted by the watchdog or after a crash since the last heartbeat

_HEADER = ">BBIIB"  # version, type, device_id, counter, payload length
HEADER_SIZE = 11
KEY_SIZE = 32
MAX_PAYLOAD = 34
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + MAC_SIZE  # 61 bytes
MIN_ATT_MTU = MAX_FRAME + 3  # one notification carries ATT_MTU - 3 bytes
MAX_COUNTER = 0xFFFFFFFF


class FrameError(ValueError):
    """A frame that is not a well-formed msa v1 frame."""


class Frame:
    def __init__(self, type, device_id, counter, payload=b"", mac=b""):
        self.type = type
        self.device_id = device_id
        self.counter = counter
        self.payload = payload
        self.mac = mac

    @property
    def signed(self) -> bool:
        return self.type < 0x80

    @property
    def name(self) -> str:
        return NAMES.get(self.type, "unknown")

    def body(self) -> bytes:
        # The bytes the MAC covers: header and payload.
        header = struct.pack(
            _HEADER, VERSION, self.type, self.device_id, self.counter, len(self.payload)
        )
        return header + self.payload

    def to_bytes(self) -> bytes:
        return self.body() + self.mac

    def verify(self, key: "MacKey | bytes") -> bool:
        if not self.signed:
            return False
        if not isinstance(key, MacKey):
            key = MacKey(key)
        return equal(key.mac(self.body()), self.mac)

    def fields(self) -> dict:
        return decode_payload(self.type, self.payload)

    def __repr__(self):
        return "Frame(%s, device=%08x, counter=%d, payload=%s)" % (
            self.name,
            self.device_id,
            self.counter,
            self.payload.hex(),
        )


def _check(type, device_id, counter, payload):
    if type not in NAMES:
        raise FrameError("unknown frame type 0x%02x" % type)
    if not 0 <= device_id <= 0xFFFFFFFF:
        raise FrameError("device id out of range")
    if not 0 <= counter <= MAX_COUNTER:
        raise FrameError("counter out of range")
    if len(payload) > MAX_PAYLOAD:
        raise FrameError("payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD))
    if len(payload) < PAYLOAD_MIN[type]:
        raise FrameError(
            "%s payload needs %d bytes, got %d" % (NAMES[type], PAYLOAD_MIN[type], len(payload))
        )


def sign(key, type, device_id, counter, payload) -> bytes:
    """Build a signed button frame (type below 0x80) and return its bytes."""
    if type >= 0x80:
        raise FrameError("control frames are not signed; use control()")
    _check(type, device_id, counter, payload)
    if not isinstance(key, MacKey):
        key = MacKey(key)
    frame = Frame(type, device_id, counter, payload)
    frame.mac = key.mac(frame.body())
    return frame.to_bytes()


def control(type, device_id, counter, payload=b"") -> bytes:
    """Build an unsigned phone -> button control frame (ACK, TIME)."""
    if type < 0x80:
        raise FrameError("button frames must be signed; use sign()")
    _check(type, device_id, counter, payload)
    return Frame(type, device_id, counter, payload).to_bytes()


def parse(data) -> Frame:
    """Check the structure of a frame and split it; the MAC is not verified."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise FrameError("frame of %d bytes is shorter than its header" % len(data))
    version, type, device_id, counter, length = struct.unpack(_HEADER, data[:HEADER_SIZE])
    if version != VERSION:
        raise FrameError("unsupported protocol version %d" % version)
    if type not in NAMES:
        raise FrameError("unknown frame type 0x%02x" % type)
    mac_size = MAC_SIZE if type < 0x80 else 0
    if len(data) != HEADER_SIZE + length + mac_size:
        raise FrameError(
            "%s frame should be %d bytes, got %d"
            % (NAMES[type], HEADER_SIZE + length + mac_size, len(data))
        )
    payload = data[HEADER_SIZE : HEADER_SIZE + length]
    _check(type, device_id, counter, payload)
    return Frame(type, device_id, counter, payload, data[HEADER_SIZE + length :])


# Payloads (big-endian). time_s: the button's clock in Unix seconds, set by
# the phone's TIME frame; 0 when the button has not been told the time since
# it powered up.


def alarm_payload(time_s, battery_mv, battery_pct=None) -> bytes:
    data = struct.pack(">IH", time_s, battery_mv)
    return data if battery_pct is None else data + bytes((battery_pct,))


def heartbeat_payload(time_s, battery_mv, uptime_s, battery_pct=None, flags=0) -> bytes:
    data = struct.pack(">IHI", time_s, battery_mv, uptime_s)
    return data if battery_pct is None else data + bytes((battery_pct, flags))


def battery_low_payload(time_s, battery_mv, battery_pct) -> bytes:
    return struct.pack(">IHB", time_s, battery_mv, battery_pct)


def time_payload(time_s) -> bytes:
    return struct.pack(">I", time_s)


def decode_payload(type, payload) -> dict:
    # Fields a v1.0 button does not send (battery_pct, flags) decode as None.
    if type in (ALARM, TEST_ALARM):
        time_s, battery_mv = struct.unpack(">IH", payload[:6])
        pct = payload[6] if len(payload) > 6 else None
        return {"time_s": time_s, "battery_mv": battery_mv, "battery_pct": pct}
    if type == HEARTBEAT:
        time_s, battery_mv, uptime_s = struct.unpack(">IHI", payload[:10])
        pct, flags = (payload[10], payload[11]) if len(payload) > 11 else (None, None)
        return {
            "time_s": time_s,
            "battery_mv": battery_mv,
            "uptime_s": uptime_s,
            "battery_pct": pct,
            "flags": flags,
        }
    if type == BATTERY_LOW:
        time_s, battery_mv, pct = struct.unpack(">IHB", payload[:7])
        return {"time_s": time_s, "battery_mv": battery_mv, "battery_pct": pct}
    if type == TIME:
        return {"time_s": struct.unpack(">I", payload[:4])[0]}
    return {}
