# ESP32 (ESP32-DevKitC class boards) running MicroPython's ESP32 port.
# Every board.py gives the firmware the same few names; see boards/README.md.
import bluetooth
import machine

NAME = "esp32"
BUTTON_PIN = 27  # to ground when pressed, internal pull-up
BATTERY_ADC_PIN = 34  # ADC1, input only
BATTERY_DIVIDER = 2.0  # two equal resistors between the cell and the ADC
LED_PINS = (2,)  # the user LED on most DevKits (the power LED must be desoldered)
ADV_INTERVAL_US = 500_000
HEAP_BYTES = 96 * 1024


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
        _adc = machine.ADC(machine.Pin(BATTERY_ADC_PIN), atten=machine.ADC.ATTN_11DB)
    return int(_adc.read_uv() * BATTERY_DIVIDER / 1000)


def silence():
    for pin in LED_PINS:
        machine.Pin(pin, machine.Pin.OUT, value=0)
