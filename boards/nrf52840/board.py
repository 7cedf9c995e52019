# nRF52840 (Nordic PCA10056, Adafruit Feather nRF52840). NOT RUN HERE: no port
# gives it the `bluetooth` module with pairing yet. MicroPython's nRF port has
# `ubluepy` (no bonding, no IRQ API); its Zephyr port has `bluetooth` without
# pairing or bonding. So radio() says so; the rest of the board is ready.
# docs/firmware.md, "A board in a pocket", has the route and its battery estimate.
import machine

NAME = "nrf52840"
BUTTON_PIN = "P0_11"  # button 1 on the PCA10056
BATTERY_ADC_PIN = "P0_29"  # AIN5
BATTERY_DIVIDER = 2.0
LED_PINS = ("P0_13", "P0_14", "P0_15", "P0_16")
LED_OFF = 1  # the PCA10056's LEDs are active low
ADV_INTERVAL_US = 1_022_500  # only while the phone is away: Apple's 1022.5 ms step
HEAP_BYTES = 64 * 1024
# Radio and power (docs/power.md). The phone, as central, sets the connection
# parameters: these are what the 112 app asks for (Android's LOW_POWER priority)
# and what this board's battery budget assumes.
CONN_INTERVAL_MS = 125
CONN_LATENCY = 2  # with nothing to send, the button answers one event in three
SUPERVISION_TIMEOUT_MS = 20_000
UNBONDED_GRACE_MS = 2000  # a link not encrypted with the bond by then is dropped
SLEEP = "system-on"  # the SoftDevice sleeps between radio events
# Battery: a CR2032 coin cell (the nRF52840 sleeps at about 1.5 uA); a Feather
# on its LiPo sets "lipo". Calibration: raw = GAIN * true + OFFSET.
BATTERY_CELL = "cr2032"
BATTERY_GAIN = 1.0
BATTERY_OFFSET_MV = 0
WDT_TIMEOUT_MS = 30_000


def radio():
    raise OSError(
        "no MicroPython port gives the nRF52840 a `bluetooth` module with pairing yet: "
        "see docs/firmware.md, 'A board in a pocket'"
    )


def battery_mv():
    adc = machine.ADC(machine.Pin(BATTERY_ADC_PIN))  # 0..3.6 V over 16 bits
    return int(adc.read_u16() * 3600 * BATTERY_DIVIDER / 65535)
