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
RECEIPT = 0x83

NAMES = {
    ALARM: "alarm",
    TEST_ALARM: "test_alarm",
    HEARTBEAT: "heartbeat",
    BATTERY_LOW: "battery_low",
    ACK: "ack",
    TIME: "time",
    RECEIPT: "receipt",
}

# Payload fields per button frame type: their struct codes and names, in order.
# The first REQUIRED[type] are always there; the rest were appended later (SPEC
# §3) and come whole or not at all.
_ALARM_FIELDS = ("IHBHI", ("time_s", "battery_mv", "battery_pct", "presses", "last_time_s"))
FIELDS = {
    ALARM: _ALARM_FIELDS,
    TEST_ALARM: _ALARM_FIELDS,
    HEARTBEAT: (
        "IHIBBHB",
        ("time_s", "battery_mv", "uptime_s", "battery_pct", "flags", "waiting", "waiting_alarms"),
    ),
    BATTERY_LOW: ("IHB", ("time_s", "battery_mv", "battery_pct")),
}
REQUIRED = {ALARM: 2, TEST_ALARM: 2, HEARTBEAT: 3, BATTERY_LOW: 3}
# Control frames have exactly this payload, no more, no less.
CONTROL_SIZE = {ACK: 0, TIME: 4, RECEIPT: 16}
RECEIPT_SIZE = 16
# The smallest payload of each type (a control frame's: its only size).
PAYLOAD_MIN = {ALARM: 6, TEST_ALARM: 6, HEARTBEAT: 10, BATTERY_LOW: 7, ACK: 0, TIME: 4, RECEIPT: 16}

# Heartbeat flags (SPEC §3): what the button wants the police to know.
STUCK = 0x01  # the button has been held down for longer than a press
LOW_BATTERY = 0x02  # below the low-battery threshold (and not yet back above it)
RECOVERED = 0x04  # rebooted by the watchdog or after a crash since the last heartbeat
UNRECEIPTED = 0x08  # an acknowledged frame has had no backend receipt for too long
REDUCED = 0x10  # started in reduced mode after a start-up error
FLASH_LOW = 0x20  # the outbox's flash is nearly full: heartbeats are being dropped

_HEADER = ">BBIIB"  # version, type, device_id, counter, payload length
HEADER_SIZE = 11
KEY_SIZE = 32
MAX_PAYLOAD = 34
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + MAC_SIZE  # 61 bytes
MIN_ATT_MTU = MAX_FRAME + 3  # one notification carries ATT_MTU - 3 bytes
MAX_COUNTER = 0xFFFFFFFF

# The counter (SPEC §4): the key epoch in its top byte, a sequence below.
MAX_EPOCH = 0xFF
MAX_SEQUENCE = 0xFFFFFF


def epoch_of(counter):
    return counter >> 24


def sequence_of(counter):
    return counter & MAX_SEQUENCE


def first_counter(epoch):
    """The first counter of a key epoch: sequence 1."""
    return epoch << 24 | 1


def last_counter(epoch):
    return epoch << 24 | MAX_SEQUENCE


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
        from .payload import decode_payload

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
    size = len(payload)
    if size > MAX_PAYLOAD:
        raise FrameError("payload of %d bytes exceeds %d" % (size, MAX_PAYLOAD))
    name = NAMES[type]
    if type in CONTROL_SIZE:
        if size != CONTROL_SIZE[type]:
            exact = CONTROL_SIZE[type]
            raise FrameError("%s payload must be %d bytes, got %d" % (name, exact, size))
        return
    if sequence_of(counter) == 0:
        raise FrameError("%s frame with sequence 0 (counter %d)" % (name, counter))
    if size < PAYLOAD_MIN[type]:
        raise FrameError("%s payload needs %d bytes, got %d" % (name, PAYLOAD_MIN[type], size))
    end = 0
    for code in FIELDS[type][0]:
        step = struct.calcsize(code)
        if end < size < end + step:
            raise FrameError("%s payload of %d bytes ends inside a field" % (name, size))
        end += step


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
    """Build an unsigned phone -> button control frame (ACK, TIME, RECEIPT)."""
    if type < 0x80:
        raise FrameError("button frames must be signed; use sign()")
    _check(type, device_id, counter, payload)
    return Frame(type, device_id, counter, payload).to_bytes()


def receipt(key, frame_mac) -> bytes:
    """The backend's receipt for the frame with this MAC (SPEC §5.1)."""
    if not isinstance(key, MacKey):
        key = MacKey(key)
    return key.digest(b"msa-receipt" + bytes(frame_mac))[:RECEIPT_SIZE]


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
# it powered up. Fields given as None, and all after them, are left out.


def encode(type, *values) -> bytes:
    """The payload of a button frame from its fields' values, in SPEC §3's order."""
    count = 0
    while count < len(values) and values[count] is not None:
        count += 1
    return struct.pack(">" + FIELDS[type][0][:count], *values[:count])


def __getattr__(name):
    # The payload builders and the decoder live in protocol/payload.py, which
    # the button does not load (its heap is tight); the host finds them here too.
    from . import payload

    try:
        return getattr(payload, name)
    except AttributeError:
        raise AttributeError("module 'protocol.frame' has no attribute %r" % name) from None
