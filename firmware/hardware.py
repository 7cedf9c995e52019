# The board under the firmware. A board's definition (boards/<board>/board.py,
# /board.py on the flash) gives constants; a function of the same name in it
# replaces the rule here where that board differs (its LED, its radio).
import machine

_PIN_IN = machine.Pin.IN
_PULL_UP = machine.Pin.PULL_UP
_BATTERY_SAMPLES = 8


class Hardware:
    def __init__(self, board):
        self.board = board
        self.name = board.NAME
        self.adv_interval_us = getattr(board, "ADV_INTERVAL_US", 500_000)
        self.watchdog_ms = getattr(board, "WDT_TIMEOUT_MS", 30_000)
        self._adc = None

    def _own(self, name):
        return getattr(self.board, name, None)

    def radio(self):
        own = self._own("radio")
        if own:
            return own()
        import bluetooth

        return bluetooth.BLE()

    def button(self):
        return machine.Pin(self.board.BUTTON_PIN, _PIN_IN, _PULL_UP)

    def pressed(self, pin):
        return pin.value() == getattr(self.board, "BUTTON_ACTIVE", 0)

    def battery_mv(self):
        # Calibrated: the board's ADC reads raw = GAIN * true + OFFSET (measured
        # on the bench at two known voltages, boards/README.md).
        raw = self._raw_battery_mv()
        gain = getattr(self.board, "BATTERY_GAIN", 1.0)
        offset = getattr(self.board, "BATTERY_OFFSET_MV", 0)
        return max(0, int((raw - offset) / gain + 0.5))

    def _raw_battery_mv(self):
        own = self._own("battery_mv")
        if own:
            return own()
        if self._adc is None:
            pin = machine.Pin(self.board.BATTERY_ADC_PIN)
            atten = getattr(machine.ADC, "ATTN_11DB", None)  # ESP32: the full 0-3.3 V range
            self._adc = machine.ADC(pin) if atten is None else machine.ADC(pin, atten=atten)
        total = 0
        for _ in range(_BATTERY_SAMPLES):  # the radio's bursts make single readings noisy
            total += self._adc.read_uv()
        return total * self.board.BATTERY_DIVIDER / (1000 * _BATTERY_SAMPLES)

    def battery_curve(self):
        from firmware.battery import CURVES

        return getattr(self.board, "BATTERY_CURVE", None) or CURVES[self.board.BATTERY_CELL]

    def watchdog(self, timeout_ms):
        """Start the hardware watchdog (it cannot be stopped); None if the port has none."""
        own = self._own("watchdog")
        if own:
            return own(timeout_ms)
        wdt = getattr(machine, "WDT", None)
        return None if wdt is None else wdt(timeout=timeout_ms)

    def silence(self):
        # Stealth: no light, sound or vibration, from the first instant.
        own = self._own("silence")
        if own:
            return own()
        off = getattr(self.board, "LED_OFF", 0)
        for pin in getattr(self.board, "LED_PINS", ()):
            machine.Pin(pin, machine.Pin.OUT, value=off)
