# The button's provisioning, written by the police tech desk into device.json
# on the flash. Without a device id and key the button cannot sign a frame and
# stays silent; any other bad value falls back to its default, said on the
# console, so that a typo never silences a button.
#
# validate() is the tech desk's check before writing the file; it runs on
# CPython too (`from firmware.settings import validate`).
import json

PATH = "device.json"
REDUCED = "data/reduced"  # the provisioning reduced mode began under, and why
PATTERNS = ("single", "long", "multi")

# name: (default, lowest, highest)
LIMITS = {
    "heartbeat_s": (900, 1, 86400),  # a signed heartbeat with the battery level
    "debounce_ms": (30, 5, 200),  # a level must hold this long: contact bounce
    "press_ms": (50, 20, 2000),  # a press shorter than this is a bump, not a press
    "hold_ms": (2000, 500, 10000),  # "long": the alarm once held this long
    "presses": (3, 2, 10),  # "multi": this many presses ...
    "window_ms": (3000, 500, 10000),  # ... within this window
    "stuck_ms": (15000, 7000, 120000),  # held longer: a stuck button, reported and ignored
    "watchdog_ms": (None, 2000, 120000),  # None: the board's WDT_TIMEOUT_MS
    # A frame the phone acknowledged with no backend receipt this long: the
    # heartbeat says so (flag UNRECEIPTED, protocol/SPEC.md §3).
    "unreceipted_s": (600, 1, 86400),
}
MAX_EPOCH = 255  # the key epoch is the counter's top byte (protocol/SPEC.md §4)
# What reduced mode keeps of device.json (protocol/SPEC.md §3.1): who it is, and
# how often it beats, 1 h when that is not provisioned.
_REDUCED_KEEP = ("device_id", "key", "epoch", "heartbeat_s", "unreceipted_s")
_REDUCED_HEARTBEAT_S = 3600
_PATTERN_KEYS = ("pattern", "hold_ms", "presses", "window_ms")
_MIN_PRESS_GAP_MS = 200  # a finger cannot press faster than about 5 times a second


def _int(values, name, problems):
    default, low, high = LIMITS[name]
    value = values.get(name, default)
    if value is None and default is None:
        return None
    if type(value) is not int or not low <= value <= high:
        problems.append(
            "%s must be a whole number from %d to %d, not %r" % (name, low, high, value)
        )
        return default
    return value


def _identity(values, problems):
    device_id = values.get("device_id")
    if type(device_id) is not int or not 0 < device_id <= 0xFFFFFFFF:
        problems.append("device_id must be a whole number from 1 to 4294967295")
    key = values.get("key")
    try:
        if len(bytes.fromhex(key)) != 32:
            raise ValueError
    except (TypeError, ValueError):
        problems.append("key must be 64 hexadecimal digits (32 bytes)")
    epoch = values.get("epoch", 0)
    if type(epoch) is not int or not 0 <= epoch <= MAX_EPOCH:
        problems.append("epoch must be a whole number from 0 to %d" % MAX_EPOCH)


def check(values):
    """Return (settings dict with defaults where a value is bad, problems)."""
    problems = []
    if not isinstance(values, dict):
        return None, ["device.json must hold a JSON object"]
    _identity(values, problems)
    out = {"device_id": values.get("device_id"), "key": values.get("key")}
    out["epoch"] = values.get("epoch", 0)
    for name in LIMITS:
        out[name] = _int(values, name, problems)
    pattern = values.get("pattern", "single")
    if pattern not in PATTERNS:
        problems.append("pattern must be one of %s, not %r" % (", ".join(PATTERNS), pattern))
        pattern = None
    if out["press_ms"] <= out["debounce_ms"]:
        problems.append("press_ms must be longer than debounce_ms")
        out["press_ms"], out["debounce_ms"] = LIMITS["press_ms"][0], LIMITS["debounce_ms"][0]
    if pattern == "long" and out["hold_ms"] <= out["press_ms"]:
        problems.append("hold_ms must be longer than press_ms")
        pattern = None
    if out["stuck_ms"] <= out["hold_ms"]:
        problems.append("stuck_ms must be longer than hold_ms")
        out["stuck_ms"], out["hold_ms"] = LIMITS["stuck_ms"][0], LIMITS["hold_ms"][0]
    if pattern == "multi" and out["window_ms"] < out["presses"] * _MIN_PRESS_GAP_MS:
        problems.append(
            "window_ms must leave %d ms a press: at least %d for %d presses"
            % (_MIN_PRESS_GAP_MS, out["presses"] * _MIN_PRESS_GAP_MS, out["presses"])
        )
        pattern = None
    for name in values:
        if name not in out and name != "pattern":
            problems.append("%r is not a setting" % name)
    bad_pattern = pattern is None or any(
        p.startswith(k + " ") for p in problems for k in _PATTERN_KEYS
    )
    # A broken pattern falls back to the one that can never fail to raise the alarm.
    out["pattern"] = "single" if bad_pattern else pattern
    return out, problems


def validate(values):
    """The tech desk's check: a list of what is wrong with these settings (empty: fine)."""
    return check(values)[1]


class Settings:
    # No methods: once the button has its settings, this module can be
    # unloaded (firmware/app.py), and its checks give their heap back.
    pass


def make(values):
    settings = Settings()
    for name in values:
        setattr(settings, name, values[name])
    settings.key = bytes.fromhex(values["key"])
    if settings.pattern == "long":
        settings.description = "long press of %d ms" % settings.hold_ms
    elif settings.pattern == "multi":
        settings.description = "%d presses within %d ms" % (settings.presses, settings.window_ms)
    else:
        settings.description = "single press of %d ms" % settings.press_ms
    return settings


def load(path=PATH, reduced=False):
    """The settings on the flash, or None when the button cannot work (said why).
    Reduced: only what reduced mode keeps, a single press for the alarm."""
    try:
        with open(path) as f:
            values = json.load(f)
        if reduced and isinstance(values, dict):
            values = {k: values[k] for k in _REDUCED_KEEP if k in values}
            _, low, high = LIMITS["heartbeat_s"]
            beat = values.get("heartbeat_s")
            if type(beat) is not int or not low <= beat <= high:
                values["heartbeat_s"] = _REDUCED_HEARTBEAT_S
    except OSError:
        return None
    except ValueError as error:
        print("msa: device.json is not valid JSON (%s); the radio stays off" % error)
        return None
    out, problems = check(values)
    for problem in problems:
        if problem.startswith(("device_id", "key", "epoch")) or out is None:
            print("msa: device.json: %s; the radio stays off" % problem)
            return None
    settings = make(out)
    for problem in problems:
        print("msa: device.json: %s; using the default" % problem)
    if problems:
        print("msa: settings fall back to defaults; alarm on a", settings.description)
    return settings


def fingerprint(path=PATH):
    """device.json in a few bytes: a new provisioning ends reduced mode."""
    from hashlib import sha256

    with open(path, "rb") as f:
        return sha256(f.read()).digest()[:8].hex()


def reduced_reason():
    """Why reduced mode began, if it began under the provisioning in force; else None."""
    try:
        with open(REDUCED) as f:
            provisioning, reason = f.read().split("\n", 1)
        if provisioning == fingerprint():
            return reason
        import os

        os.remove(REDUCED)
        print("msa: provisioned again: reduced mode ends")
    except (OSError, ValueError):
        pass
    return None
