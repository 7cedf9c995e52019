# The button has no clock of its own: the phone tells it the time (a TIME
# control frame) after every connection. Until then frames carry time 0.
# time.time() is the board's RTC: seconds that do not wrap, unlike ticks_ms().
import time

_booted = int(time.time())
_offset = None


def set_unix(seconds):
    global _offset
    _offset = seconds - int(time.time())


def unix():
    return 0 if _offset is None else int(time.time()) + _offset


def uptime_s():
    return int(time.time()) - _booted
