# The button's provisioning, written by the police tech desk (msa provision)
# into device.json on the flash. Without it the button stays silent.
import json

PATH = "device.json"
DEFAULTS = {
    "heartbeat_s": 900,  # a signed heartbeat with the battery level
    "debounce_ms": 30,  # a press must hold this long to count
}


class Settings:
    def __init__(self, values):
        self.device_id = int(values["device_id"])
        self.key = bytes.fromhex(values["key"])
        if len(self.key) != 32:
            raise ValueError("the device key must be 32 bytes")
        self.heartbeat_s = int(values.get("heartbeat_s", DEFAULTS["heartbeat_s"]))
        self.debounce_ms = int(values.get("debounce_ms", DEFAULTS["debounce_ms"]))


def load(path=PATH):
    try:
        with open(path) as f:
            return Settings(json.load(f))
    except OSError:
        return None
