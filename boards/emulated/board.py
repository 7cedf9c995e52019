# The emulated board (boards/emulated/): an ESP32-like button. A board.py is
# constants, plus a function where the board differs from firmware/hardware.py.
NAME = "emulated"
BUTTON_PIN = 9  # to ground when pressed, internal pull-up
BATTERY_ADC_PIN = 34
BATTERY_DIVIDER = 2.0  # two equal resistors between the cell and the ADC
LED_PINS = (2,)  # the dev board's user LED: held off, always
ADV_INTERVAL_US = 500_000  # short for the tests; real boards advertise every 1022.5 ms
HEAP_BYTES = 96 * 1024  # what an ESP32 leaves MicroPython (-X heapsize)
FLASH_BYTES = 2 * 1024 * 1024  # an ESP32 module's littlefs partition (4 MB flash), 4 KB blocks
# Radio and power (docs/power.md). The phone, as central, sets the connection
# parameters: these are what the 112 app asks for (Android's LOW_POWER priority)
# and what this board's battery budget assumes.
CONN_INTERVAL_MS = 125
CONN_LATENCY = 2  # with nothing to send, the button answers one event in three
SUPERVISION_TIMEOUT_MS = 20_000
UNBONDED_GRACE_MS = 2000  # a link not encrypted with the bond by then is dropped
SLEEP = "none"  # it does not sleep; bench/battery.py applies each real board's figures
# Battery: a LiPo cell. This board's ADC reads 1.5 % high and 12 mV low at its
# pin (24 mV at the cell): the bench's two-point calibration, corrected here.
BATTERY_CELL = "lipo"
BATTERY_GAIN = 1.015
BATTERY_OFFSET_MV = -24
WDT_TIMEOUT_MS = 30_000  # the watchdog resets the board when not fed this long
