# ESP32-C3 (ESP32-C3-DevKitM-1 class boards) on MicroPython's ESP32 port. A
# board.py is constants, plus a function where the board differs from
# firmware/hardware.py: here the LED, a WS2812 that a low pin does not switch off.
import machine

NAME = "esp32c3"
BUTTON_PIN = 9  # the BOOT button: to ground when pressed
BATTERY_ADC_PIN = 3  # ADC1
BATTERY_DIVIDER = 2.0
RGB_LED_PIN = 8
ADV_INTERVAL_US = 500_000
HEAP_BYTES = 96 * 1024
# Battery: a LiPo cell; calibration as on the ESP32 (raw = GAIN * true + OFFSET).
BATTERY_CELL = "lipo"
BATTERY_GAIN = 1.0
BATTERY_OFFSET_MV = 0
WDT_TIMEOUT_MS = 30_000


def silence():
    import neopixel

    led = neopixel.NeoPixel(machine.Pin(RGB_LED_PIN, machine.Pin.OUT), 1)
    led[0] = (0, 0, 0)
    led.write()
