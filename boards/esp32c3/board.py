# ESP32-C3 (ESP32-C3-DevKitM-1 class boards) running MicroPython's ESP32 port.
# Every board.py gives the firmware the same few names; see boards/README.md.
import bluetooth
import machine

NAME = "esp32c3"
BUTTON_PIN = 9  # the BOOT button: to ground when pressed
BATTERY_ADC_PIN = 3  # ADC1
BATTERY_DIVIDER = 2.0
RGB_LED_PIN = 8  # a WS2812: it is switched off by writing black, not by a low pin
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
    import neopixel

    led = neopixel.NeoPixel(machine.Pin(RGB_LED_PIN, machine.Pin.OUT), 1)
    led[0] = (0, 0, 0)
    led.write()
