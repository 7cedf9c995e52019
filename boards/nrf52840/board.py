# nRF52840 (Nordic PCA10056, Adafruit Feather nRF52840) on MicroPython's nRF
# port. That port does not offer the `bluetooth` module the firmware uses (it
# has `ubluepy`: no bonding, no IRQ API), so radio() says so; the rest of the
# board is ready. See docs/firmware.md.
import machine

NAME = "nrf52840"
BUTTON_PIN = "P0_11"  # button 1 on the PCA10056
BATTERY_ADC_PIN = "P0_29"  # AIN5
BATTERY_DIVIDER = 2.0
LED_PINS = ("P0_13", "P0_14", "P0_15", "P0_16")
LED_OFF = 1  # the PCA10056's LEDs are active low
ADV_INTERVAL_US = 500_000
HEAP_BYTES = 64 * 1024
# Battery: a CR2032 coin cell (the nRF52840 sleeps at about 1.5 uA); a Feather
# on its LiPo sets "lipo". Calibration: raw = GAIN * true + OFFSET.
BATTERY_CELL = "cr2032"
BATTERY_GAIN = 1.0
BATTERY_OFFSET_MV = 0
WDT_TIMEOUT_MS = 30_000


def radio():
    raise OSError("the nRF port of MicroPython has no `bluetooth` module: see docs/firmware.md")


def battery_mv():
    adc = machine.ADC(machine.Pin(BATTERY_ADC_PIN))  # 0..3.6 V over 16 bits
    return int(adc.read_u16() * 3600 * BATTERY_DIVIDER / 65535)
