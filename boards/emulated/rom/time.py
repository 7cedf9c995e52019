# MicroPython's `time` module for the emulated board: the unix port's own, with
# sleep() as a microcontroller port has it. The unix port's sleep() holds the
# interpreter in one system call, where nothing else runs; on the ESP32 the BLE
# host task's IRQs are handled during any sleep, as sleep_ms() does here.
import sys

_path = sys.path
sys.path = []
import time as _port  # noqa: E402  (the unix port's built-in module)

sys.path = _path

for _name in dir(_port):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_port, _name)
del _name


def sleep(seconds):
    ms = int(seconds * 1000)
    _port.sleep_ms(ms)
    _port.sleep_us(int(seconds * 1000000) - ms * 1000)
