# The payloads of protocol/SPEC.md §3, built and read field by field (the host's
# side; the button builds its payloads with frame.encode and never reads one).
# Runs unchanged on MicroPython and CPython.
import struct

from .frame import ALARM, BATTERY_LOW, FIELDS, HEARTBEAT, TIME, encode


def alarm_payload(time_s, battery_mv, battery_pct=None, presses=None, last_time_s=None) -> bytes:
    return encode(ALARM, time_s, battery_mv, battery_pct, presses, last_time_s)


def heartbeat_payload(
    time_s, battery_mv, uptime_s, battery_pct=None, flags=0, waiting=None, waiting_alarms=None
) -> bytes:
    values = (time_s, battery_mv, uptime_s, battery_pct, flags, waiting, waiting_alarms)
    return encode(HEARTBEAT, *values)


def battery_low_payload(time_s, battery_mv, battery_pct) -> bytes:
    return encode(BATTERY_LOW, time_s, battery_mv, battery_pct)


def time_payload(time_s) -> bytes:
    return struct.pack(">I", time_s)


def decode_payload(type, payload) -> dict:
    # A field a payload stops before (an older button's) decodes as None.
    if type == TIME:
        return {"time_s": struct.unpack(">I", payload[:4])[0]}
    if type not in FIELDS:
        return {}
    codes, names = FIELDS[type]
    out = {}
    at = 0
    for i in range(len(codes)):
        size = struct.calcsize(codes[i])
        fits = at + size <= len(payload)
        out[names[i]] = struct.unpack_from(">" + codes[i], payload, at)[0] if fits else None
        at += size
    return out
