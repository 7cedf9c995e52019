# The battery: millivolts (firmware/hardware.py reads and calibrates them),
# the charge left in % from the cell's discharge curve, and the low-battery
# event, raised once when the charge falls to low_pct and not again until it
# has come back above ok_pct (the hysteresis). The low state is kept in flash,
# so a button that browns out and reboots near the threshold does not repeat it.
import os

from firmware.flash import exists, write_atomic

# (mV, %) at a light load, the button's. A board names its cell
# (BATTERY_CELL) or gives its own curve (BATTERY_CURVE).
CURVES = {
    # A lithium-polymer cell (ESP32 boards: they draw too much for a coin cell).
    "lipo": (
        (3270, 0),
        (3610, 5),
        (3690, 10),
        (3730, 20),
        (3770, 30),
        (3800, 40),
        (3840, 50),
        (3870, 60),
        (3950, 70),
        (4020, 80),
        (4110, 90),
        (4200, 100),
    ),
    # A CR2032 coin cell: flat near 2.9 V for most of its life, then a knee.
    "cr2032": (
        (2000, 0),
        (2400, 5),
        (2600, 10),
        (2700, 20),
        (2750, 30),
        (2800, 40),
        (2830, 50),
        (2860, 60),
        (2890, 70),
        (2920, 80),
        (2960, 90),
        (3000, 100),
    ),
}
LOW_PCT = 20
OK_PCT = 30
PATH = "data/battery_low"


def percent(mv, curve):
    """The charge left, 0..100, interpolated on the curve."""
    if mv <= curve[0][0]:
        return curve[0][1]
    for i in range(1, len(curve)):
        mv1, pct1 = curve[i]
        if mv <= mv1:
            mv0, pct0 = curve[i - 1]
            return pct0 + (pct1 - pct0) * (mv - mv0) // (mv1 - mv0)
    return curve[-1][1]


class Battery:
    def __init__(self, read_mv, curve, low_pct=LOW_PCT, ok_pct=OK_PCT, path=PATH):
        self.read_mv = read_mv
        self.curve = curve
        self.low_pct = low_pct
        self.ok_pct = ok_pct
        self.path = path
        self.low = exists(path)
        self.mv = 0
        self.pct = 0

    def read(self):
        """Measure; return (mv, pct)."""
        self.mv = self.read_mv()
        self.pct = percent(self.mv, self.curve)
        return self.mv, self.pct

    def fell_low(self):
        """True once when the last reading crossed down to the low threshold."""
        if self.low and self.pct >= self.ok_pct:
            self.low = False
            if exists(self.path):
                os.remove(self.path)
            print("msa: battery back to %d%% (%d mV)" % (self.pct, self.mv))
        elif not self.low and self.pct <= self.low_pct:
            self.low = True
            return True
        return False

    def remember_low(self):
        # After the event is queued: a cut in between repeats it, never loses it.
        try:
            write_atomic(self.path, b"1")
        except OSError as error:  # a full flash: only a reboot could repeat the event
            print("msa: battery low state not kept:", error)
