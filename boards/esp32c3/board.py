# ESP32-C3 (ESP32-C3-DevKitM-1 class boards) on MicroPython's ESP32 port. NOT RUN
# HERE on hardware. In a pocket it needs a MicroPython build with automatic light
# sleep and a 32.768 kHz crystal (docs/firmware.md, "A board in a pocket"). A
# board.py is constants, plus a function where the board differs from
# firmware/hardware.py: here the LED, a WS2812 that a low pin does not switch off.
import machine

NAME = "esp32c3"
BUTTON_PIN = 9  # the BOOT button: to ground when pressed
BATTERY_ADC_PIN = 3  # ADC1
BATTERY_DIVIDER = 2.0
RGB_LED_PIN = 8
ADV_INTERVAL_US = 1_022_500  # only while the phone is away: Apple's 1022.5 ms step
HEAP_BYTES = 96 * 1024
# Radio and power (docs/power.md). The phone, as central, sets the connection
# parameters: these are what the 112 app asks for (Android's LOW_POWER priority)
# and what this board's battery budget assumes.
CONN_INTERVAL_MS = 125
CONN_LATENCY = 2  # with nothing to send, the button answers one event in three
SUPERVISION_TIMEOUT_MS = 20_000
UNBONDED_GRACE_MS = 2000  # a link not encrypted with the bond by then is dropped
SLEEP = "light"  # needs a MicroPython built with automatic light sleep (docs/power.md)
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
