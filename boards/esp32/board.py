# ESP32 (ESP32-DevKitC class boards) on MicroPython's ESP32 port. A board.py is
# constants, plus a function where the board differs from firmware/hardware.py.
NAME = "esp32"
BUTTON_PIN = 27  # to ground when pressed, internal pull-up
BATTERY_ADC_PIN = 34  # ADC1, input only
BATTERY_DIVIDER = 2.0  # two equal resistors between the cell and the ADC
LED_PINS = (2,)  # the user LED on most DevKits (the power LED must be desoldered)
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
# Battery: a LiPo cell (an ESP32 draws too much for a coin cell). read_uv() has
# the chip's eFuse calibration; measure each batch at two voltages and set the
# rest here (raw = GAIN * true + OFFSET).
BATTERY_CELL = "lipo"
BATTERY_GAIN = 1.0
BATTERY_OFFSET_MV = 0
WDT_TIMEOUT_MS = 30_000
