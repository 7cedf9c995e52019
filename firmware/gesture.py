# What the presses mean: the alarm pattern chosen at provisioning, the tech
# desk's test gesture, and a stuck button. Pure logic on debounced edges and a
# millisecond clock that does not wrap (firmware/button.py feeds it), so that
# the rules are tested on CPython too (tests/test_gesture.py).
#
# Patterns (settings.pattern):
#   single  a press held press_ms raises the alarm (at once, not on release)
#   long    a press held hold_ms raises it; a shorter one raises nothing
#   multi   `presses` presses, each held press_ms, within window_ms; presses
#           older than the window are forgotten, so bumps never add up
# A press raises at most one alarm however long it is held. A press held
# stuck_ms is a stuck button: reported, and ignored until it is released.
#
# The test alarm (docs/decisions.md): only while the tech desk's arming is in
# force (armed() is asked when a gesture starts), and only for exactly
#   a hold of TEST_HOLD_MS..TEST_HOLD_MAX_MS, then TEST_TAPS short presses,
#   each within TEST_GAP_MS of the last release, then TEST_GAP_MS of quiet.
# While such a gesture may still become the test, an alarm it matched waits;
# the moment it cannot (any deviation), the alarm goes out as a REAL alarm.
ALARM = "alarm"
TEST_ALARM = "test_alarm"
STUCK = "stuck"
RELEASED = "released"

TEST_HOLD_MS = 3000
TEST_HOLD_MAX_MS = 6000
TEST_TAPS = 2
TEST_TAP_MAX_MS = 1000
TEST_GAP_MS = 1500

_HOLD = 0  # test phases: the first hold, a tap held, waiting between
_TAP = 1
_GAP = 2


class Gesture:
    def __init__(self, settings, armed=None):
        self.s = settings
        self.armed = armed
        self.down_at = None  # when the press being held began; None: released
        self.counted = False  # the press held counts as a press of the pattern
        self.raised = False  # the press held raised its alarm (long)
        self.stuck = False
        self.starts = []  # multi: when the counted presses in the window began
        self.last_up = None
        self.test = None  # the test gesture under way: its phase, or None
        self.taps = 0
        self.pending = False  # an alarm waiting for the test gesture to fail

    def down(self, t):
        self.down_at, self.counted, self.raised = t, False, False
        out = []
        if self.test == _GAP:
            if self.taps < TEST_TAPS:
                self.test = _TAP
            else:
                self._fail(out)
        elif self.test is None and self._quiet(t) and self.armed and self.armed():
            self.test, self.taps, self.pending = _HOLD, 0, False
        return out + self.tick(t)

    def up(self, t):
        out = []
        if self.down_at is not None:
            out = self.tick(t)
            held = t - self.down_at
            if self.test == _HOLD:
                if held < TEST_HOLD_MS:
                    self._fail(out)
                else:
                    self.test = _GAP
            elif self.test == _TAP:
                if held < self.s.press_ms:
                    self._fail(out)
                else:
                    self.taps += 1
                    self.test = _GAP
            self.down_at, self.last_up = None, t
        if self.stuck:
            self.stuck = False
            out.append(RELEASED)
        return out

    def tick(self, t):
        out = []
        s = self.s
        if self.down_at is not None:
            held = t - self.down_at
            if not self.counted and held >= s.press_ms:
                self.counted = True
                self._count(out)
            if s.pattern == "long" and not self.raised and held >= s.hold_ms:
                self.raised = True
                self._alarm(out)
            if self.test == _HOLD and held > TEST_HOLD_MAX_MS:
                self._fail(out)
            elif self.test == _TAP and held > TEST_TAP_MAX_MS:
                self._fail(out)
            if not self.stuck and held >= s.stuck_ms:
                self.stick(out)
        elif self.test == _GAP and t - self.last_up > TEST_GAP_MS:
            if self.taps == TEST_TAPS:
                self.test, self.pending = None, False
                out.append(TEST_ALARM)
            else:
                self._fail(out)
        return out

    def stick(self, out):
        # A stuck (or chattering) button: whatever it was doing is over.
        self.stuck = True
        if self.test is not None:
            self._fail(out)
        self.starts = []
        out.append(STUCK)

    def deadline(self):
        """When tick() must next run (ms on the same clock), or None."""
        s = self.s
        times = []
        if self.down_at is not None:
            t0 = self.down_at
            if not self.counted:
                times.append(t0 + s.press_ms)
            if s.pattern == "long" and not self.raised:
                times.append(t0 + s.hold_ms)
            if self.test == _HOLD:
                times.append(t0 + TEST_HOLD_MAX_MS + 1)
            elif self.test == _TAP:
                times.append(t0 + TEST_TAP_MAX_MS + 1)
            if not self.stuck:
                times.append(t0 + s.stuck_ms)
        elif self.test == _GAP:
            times.append(self.last_up + TEST_GAP_MS + 1)
        return min(times) if times else None

    def _quiet(self, t):
        return self.last_up is None or t - self.last_up > TEST_GAP_MS

    def _count(self, out):
        s = self.s
        if s.pattern == "single":
            self._alarm(out)
        elif s.pattern == "multi":
            start = self.down_at
            self.starts = [t for t in self.starts if start - t <= s.window_ms]
            self.starts.append(start)
            if len(self.starts) >= s.presses:
                self.starts = []
                self._alarm(out)

    def _alarm(self, out):
        if self.test is None:
            out.append(ALARM)
        else:
            self.pending = True

    def _fail(self, out):
        # Not the test gesture after all: an alarm it matched is a real one.
        self.test = None
        if self.pending:
            self.pending = False
            out.append(ALARM)
