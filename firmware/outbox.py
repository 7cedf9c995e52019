# The button's store-and-forward: the frame counter and the queue of frames
# the phone has not acknowledged yet, both in flash.
#
# Power-cut safety rests on flash.write_atomic() and on the order of writes:
#   - counters are reserved in flash *before* one is used: data/counter holds
#     the first counter not reserved, so a cut can skip counters, never repeat one;
#   - a frame is in the queue *before* it is notified: a cut loses nothing
#     that was pressed.
import os

from firmware.flash import ensure_folder, write_atomic
from protocol import frame

MAX_HEARTBEATS = 8  # routine frames kept while the phone is away; alarms are never dropped
# Counters reserved per write of data/counter. The flash's most rewritten file is
# then rewritten once every 16 frames, not on each; littlefs spreads what is left
# (copy-on-write, dynamic wear levelling). A power cut skips at most 15 counters
# of 4 billion.
COUNTER_BLOCK = 16


class Outbox:
    def __init__(self, folder="data"):
        self.folder = folder
        self.queue = folder + "/outbox"
        ensure_folder(folder)
        ensure_folder(self.queue)
        self._counter_path = folder + "/counter"
        try:
            with open(self._counter_path) as f:
                self._next = int(f.read())
        except (OSError, ValueError):
            self._next = 1
        # A frame is named by its counter (hex, so names sort in order) and type.
        # A .tmp file is a write that a power cut interrupted: it never counted.
        names = os.listdir(self.queue)
        for name in names:
            if name.endswith(".tmp"):
                os.remove(self.queue + "/" + name)
        self._names = sorted(n for n in names if not n.endswith(".tmp"))
        if self._names:  # belt and braces: never below a counter already used
            self._next = max(self._next, int(self._names[-1][:8], 16) + 1)
        self._reserved = self._next  # everything below may have been used before

    def take_counter(self):
        counter = self._next
        if counter > frame.MAX_COUNTER:
            raise OSError("counters exhausted: re-provision this button")
        if counter >= self._reserved:
            self._reserved = min(counter + COUNTER_BLOCK, frame.MAX_COUNTER + 1)
            write_atomic(self._counter_path, str(self._reserved))
        self._next = counter + 1
        return counter

    def add(self, key, kind, device_id, payload):
        """Sign a new frame, store it, and return its bytes."""
        counter = self.take_counter()
        data = frame.sign(key, kind, device_id, counter, payload)
        name = "%08x-%02x" % (counter, kind)
        write_atomic(self.queue + "/" + name, data)
        self._names.append(name)
        self._drop_old_heartbeats()
        return data

    def _drop_old_heartbeats(self):
        beats = [n for n in self._names if int(n[9:], 16) == frame.HEARTBEAT]
        for name in beats[: max(0, len(beats) - MAX_HEARTBEATS)]:
            self._remove(name)

    def head(self):
        """The oldest unacknowledged frame, or None."""
        if not self._names:
            return None
        with open(self.queue + "/" + self._names[0], "rb") as f:
            return f.read()

    def acknowledge(self, counter):
        prefix = "%08x-" % counter
        for name in self._names:
            if name.startswith(prefix):
                self._remove(name)
                return True
        return False

    def _remove(self, name):
        os.remove(self.queue + "/" + name)
        self._names.remove(name)

    def __len__(self):
        return len(self._names)
