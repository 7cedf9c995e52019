# The emulated board (boards/emulated/): an ESP32-like button. Every board.py
# gives the firmware the same few names; see boards/README.md.
import bluetooth
import machine

NAME = "emulated"
BUTTON_PIN = 9  # to ground when pressed, internal pull-up
BATTERY_ADC_PIN = 34
BATTERY_DIVIDER = 2.0  # two equal resistors between the cell and the ADC
LED_PINS = (2,)  # the dev board's user LED: held off, always
ADV_INTERVAL_US = 500_000
HEAP_BYTES = 96 * 1024  # what an ESP32 leaves MicroPython (-X heapsize)


def radio():
    return bluetooth.BLE()


def button():
    return machine.Pin(BUTTON_PIN, machine.Pin.IN, machine.Pin.PULL_UP)


def pressed(pin):
    return pin.value() == 0


_adc = None


def battery_mv():
    global _adc
    if _adc is None:
        _adc = machine.ADC(machine.Pin(BATTERY_ADC_PIN))
    return int(_adc.read_uv() * BATTERY_DIVIDER / 1000)


def silence():
    # Stealth: no light, sound or vibration, from the first instant.
    for pin in LED_PINS:
        machine.Pin(pin, machine.Pin.OUT, value=0)
