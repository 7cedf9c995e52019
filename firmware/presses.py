# Presses become alarm frames (protocol/SPEC.md §3.1). While an alarm frame
# waits that no phone has been offered yet, a new press replaces it with one
# frame carrying the total presses and the first and last press times: the new
# frame is written first, then the old one goes. A press that finds no room in
# flash is kept here, in memory, and stored once a receipt or a heartbeat finds
# room. A few numbers per kind, however many presses.
from firmware import clock
from firmware.outbox import name_of
from protocol import frame

KINDS = (frame.ALARM, frame.TEST_ALARM)


class Presses:
    def __init__(self, outbox, queue, battery):
        self.outbox = outbox
        self.queue = queue  # app._queue: the frame stored, or None (no room)
        self.battery = battery
        self.open = {}  # kind -> [counter, presses, first time_s] of the frame not yet offered
        self.unstored = {}  # kind -> [presses, first, last] not in flash yet

    def press(self, kind):
        now = clock.unix()
        waiting = self.unstored.get(kind)
        self.unstored[kind] = [waiting[0] + 1, waiting[1], now] if waiting else [1, now, now]
        self._store(kind)

    def store(self):
        """Store the presses that found no room before (called when room may have come)."""
        for kind in KINDS:
            if self.unstored.get(kind):
                self._store(kind)

    def _store(self, kind):
        presses, first, last = self.unstored[kind]
        replaced = self.open.get(kind)
        if replaced:
            presses, first = presses + replaced[1], replaced[2]
        mv, pct = self.battery.read()
        data = self.queue(kind, frame.encode(kind, first, mv, pct, presses, last))
        if data is None:
            return
        if replaced:
            self.outbox.remove(name_of(replaced[0], kind))
            print("msa: coalesced", frame.NAMES[kind], replaced[0], "into", presses, "presses")
        self.open[kind] = [int.from_bytes(data[6:10], "big"), presses, first]
        self.unstored[kind] = None

    def offered(self, counter):
        # A phone may hold it from now on: never replaced, a later press is a new alarm.
        for kind in KINDS:
            if self.open.get(kind) and self.open[kind][0] == counter:
                self.open[kind] = None

    def in_memory(self):
        """How many alarm frames wait in memory for room (0 to 2)."""
        return sum(1 for kind in KINDS if self.unstored.get(kind))
