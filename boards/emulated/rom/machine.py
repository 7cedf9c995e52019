# MicroPython's `machine` module for the emulated board: the unix port's own
# module, plus what a microcontroller port has (Pin, ADC, WDT, reset, sleep)
# backed by the board's hardware on the host (boards/emulated/hardware.py).
import sys
import time

_path = sys.path
sys.path = []
import machine as _port  # noqa: E402  (the unix port's built-in module)

sys.path = _path

import _emulink  # noqa: E402

idle = _port.idle
mem8, mem16, mem32 = _port.mem8, _port.mem16, _port.mem32
Signal = _port.Signal
time_pulse_us = _port.time_pulse_us

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def reset():
    _emulink.call("reset")
    while True:  # the host cuts the power; nothing runs after a reset
        time.sleep_ms(1000)


def soft_reset():
    reset()


def reset_cause():
    return _emulink.call("reset_cause")


def unique_id():
    return _emulink.call("unique_id")


def freq(hz=None):
    return 160000000


def lightsleep(ms=None):
    time.sleep_ms(ms or 0)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    _all = {}

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self._id = id
        self._handler = None
        self._trigger = 0
        self._value = _emulink.call("pin_init", id, mode, pull, value)
        if value is not None:
            self._value = value
        Pin._all[id] = self

    def init(self, mode=-1, pull=-1, value=None):
        if pull != -1:  # stamped on the board's clock: what the pull-up costs is board time
            _emulink.tell("pin_pull", self._id, pull, time.ticks_us())
        if value is not None:
            self.value(value)

    _fault = False  # the next read by a task (not an IRQ handler) raises: a task's crash
    _in_irq = False

    def value(self, x=None):
        if x is None:
            if Pin._fault and not Pin._in_irq:
                Pin._fault = False
                raise RuntimeError("injected fault reading Pin(%r)" % (self._id,))
            return self._value
        self._value = 1 if x else 0
        _emulink.tell("pin_write", self._id, self._value)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, hard=False):
        self._handler = handler
        self._trigger = trigger

    def __repr__(self):
        return "Pin(%r)" % (self._id,)

    @staticmethod
    def _on_change(message):
        # {"for_ms": n}: the bench holds the level for n ms, timed here on the
        # board's own clock (a finger's press, which a busy host must not stretch).
        pin = Pin._all.get(message["pin"])
        hold_ms = message.get("for_ms")
        if pin is None:
            if hold_ms is not None:
                _emulink.tell("pin_released", message["pin"])
            return
        old = pin._value
        pin._level(message["value"])
        if hold_ms is not None:
            import asyncio

            asyncio.create_task(pin._release(old, hold_ms))

    def _level(self, value):
        old, self._value = self._value, value
        edge = Pin.IRQ_RISING if value > old else Pin.IRQ_FALLING if value < old else 0
        if self._handler is not None and edge & self._trigger:
            # A soft IRQ, as the ports' pins run theirs (from the scheduler): an
            # exception in the handler is printed, and the board goes on.
            Pin._in_irq = True
            try:
                self._handler(self)
            except Exception as error:
                sys.print_exception(error)
            finally:
                Pin._in_irq = False

    async def _release(self, value, hold_ms):
        import asyncio

        await asyncio.sleep_ms(hold_ms)
        self._level(value)
        _emulink.tell("pin_released", self._id)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    _all = []

    def __init__(self, pin, atten=ATTN_11DB):
        self._uv = _emulink.call("adc_init", pin._id if isinstance(pin, Pin) else pin)
        ADC._all.append(self)

    def atten(self, atten):
        pass

    def read_uv(self):
        return self._uv

    def read_u16(self):
        return min(65535, self._uv * 65535 // 3300000)

    @staticmethod
    def _on_change(message):
        for adc in ADC._all:
            adc._uv = message["uv"]


class WDT:
    def __init__(self, id=0, timeout=5000):
        _emulink.call("wdt_start", timeout)

    def feed(self):
        _emulink.tell("wdt_feed")


def _on_fault(message):
    Pin._fault = True


_emulink.on("pin", Pin._on_change)
_emulink.on("fault", _on_fault)
_emulink.on("adc", ADC._on_change)
