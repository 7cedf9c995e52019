# nRF52840 (e.g. Adafruit Feather nRF52840, Nordic PCA10056) on MicroPython's
# nRF port. That port does not offer the `bluetooth` module the firmware uses
# (it has `ubluepy`, with no bonding and no IRQ API): radio() says so. The
# pins are here so that the rest of the board is ready; see docs/firmware.md.
import machine

NAME = "nrf52840"
BUTTON_PIN = "P0_11"  # button 1 on the PCA10056
BATTERY_ADC_PIN = "P0_29"  # AIN5
BATTERY_DIVIDER = 2.0
LED_PINS = ("P0_13", "P0_14", "P0_15", "P0_16")  # active low on the PCA10056
ADV_INTERVAL_US = 500_000
HEAP_BYTES = 64 * 1024


def radio():
    raise OSError("the nRF port of MicroPython has no `bluetooth` module: see docs/firmware.md")


def button():
    return machine.Pin(BUTTON_PIN, machine.Pin.IN, machine.Pin.PULL_UP)


def pressed(pin):
    return pin.value() == 0


def battery_mv():
    adc = machine.ADC(machine.Pin(BATTERY_ADC_PIN))
    return int(adc.read_u16() * 3600 * BATTERY_DIVIDER / 65535)


def silence():
    for pin in LED_PINS:
        machine.Pin(pin, machine.Pin.OUT, value=1)  # active low: high is off
