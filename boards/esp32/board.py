# ESP32 (ESP32-DevKitC class boards) on MicroPython's ESP32 port. A board.py is
# constants, plus a function where the board differs from firmware/hardware.py.
NAME = "esp32"
BUTTON_PIN = 27  # to ground when pressed, internal pull-up
BATTERY_ADC_PIN = 34  # ADC1, input only
BATTERY_DIVIDER = 2.0  # two equal resistors between the cell and the ADC
LED_PINS = (2,)  # the user LED on most DevKits (the power LED must be desoldered)
ADV_INTERVAL_US = 500_000
HEAP_BYTES = 96 * 1024
