# The button's store-and-forward (protocol/SPEC.md §3.1, §4): the frame counter
# and every frame no backend receipt has come for yet, in flash. A frame is
# named by its counter (hex, so that names sort in counter order) and its type.
#
# The outbox is walked, never loaded: each question (the oldest frame from a
# counter on, a frame by its counter, how many wait) is one walk of the folder
# with os.ilistdir, keeping a name or two, so the memory it uses does not grow
# with the frames waiting.
#
# Power-cut safety rests on flash.write_atomic() and on the order of writes:
#   - counters are reserved in flash *before* one is used: data/counter holds
#     the first counter not reserved, so a cut can skip counters, never repeat one;
#   - a frame is in the outbox *before* it is notified: a cut loses nothing
#     that was pressed;
#   - a coalesced alarm is written before the one it replaces is deleted.
import os

from firmware.flash import ensure_folder, free_blocks, write_atomic
from protocol import frame

MAX_HEARTBEATS = 8  # routine frames kept while nothing delivers them; alarms are never dropped
# Counters reserved per write of data/counter. The flash's most rewritten file is
# then rewritten once every 16 frames, not on each; littlefs spreads what is left
# (copy-on-write, dynamic wear levelling). A power cut skips at most 15 counters.
COUNTER_BLOCK = 16
# Room in flash blocks (docs/firmware.md, "Flash budget"): one more small file can
# cost a new littlefs metadata pair, two blocks. Two alarms and the counter's next
# reservation always find theirs; a heartbeat is built only above that.
PAIR_BLOCKS = 2
KEEP_FREE_BLOCKS = 3 * PAIR_BLOCKS
HEARTBEAT_BLOCKS = KEEP_FREE_BLOCKS + PAIR_BLOCKS
LOW_BLOCKS = HEARTBEAT_BLOCKS + 2 * PAIR_BLOCKS  # below: "flash low" in the heartbeat
_NAME = 11  # "cccccccc-tt"; a longer name (.tmp) is a write a power cut interrupted
_ALARMS = (frame.ALARM, frame.TEST_ALARM)


class Exhausted(Exception):
    """The key epoch has no sequence left: the tech desk must rotate the key."""


def _names(folder):
    # os.ilistdir walks a folder without a list (MicroPython); CPython, which
    # runs this file in the tests, has scandir.
    if hasattr(os, "ilistdir"):
        for entry in os.ilistdir(folder):
            yield entry[0]
    else:
        for name in os.listdir(folder):
            yield name


def counter_of(name):
    return int(name[:8], 16)


def kind_of(name):
    return int(name[9:], 16)


class Outbox:
    def __init__(self, epoch=0, folder="data"):
        self.folder = folder
        self.queue = folder + "/outbox"
        ensure_folder(folder)
        ensure_folder(self.queue)
        self._counter_path = folder + "/counter"
        try:
            with open(self._counter_path) as f:
                stored = int(f.read())
        except OSError as error:
            if error.errno != 2:  # ENOENT: a new button. Else never guess: a start-up error
                raise
            stored = 1
        self._last = frame.last_counter(epoch)
        newest = 0
        broken = []  # at most a write or two that a power cut interrupted
        for name in self._walk(True):
            if len(name) != _NAME:
                broken.append(name)
            else:  # belt and braces: never below a counter already used
                newest = max(newest, counter_of(name))
        for name in broken:
            os.remove(self.queue + "/" + name)
        # A new epoch starts at its first sequence, whatever the last one used.
        self._next = max(stored, frame.first_counter(epoch), newest + 1)
        self._reserved = self._next  # everything below may have been used before

    def _walk(self, all_names=False):
        for name in _names(self.queue):
            if all_names or len(name) == _NAME:
                yield name

    def take_counter(self):
        counter = self._next
        if counter > self._last:
            raise Exhausted("the key epoch has no counter left: rotate the key")
        if counter >= self._reserved:
            reserved = min(counter + COUNTER_BLOCK, self._last + 1)
            write_atomic(self._counter_path, str(reserved))  # no room: nothing was used
            self._reserved = reserved
        self._next = counter + 1
        return counter

    def add(self, key, kind, device_id, payload):
        """Sign a new frame, store it, and return its bytes (OSError: no room)."""
        counter = self.take_counter()
        data = frame.sign(key, kind, device_id, counter, payload)
        write_atomic(self.queue + "/" + name_of(counter, kind), data)
        return data

    def head(self, since=0):
        """The name of the oldest frame whose counter is `since` or above, or None."""
        low = "%08x" % since
        best = None
        for name in self._walk():
            if name >= low and (best is None or name < best):
                best = name
        return best

    def find(self, counter):
        """The name of the frame with this counter, or None."""
        prefix = "%08x-" % counter
        for name in self._walk():
            if name.startswith(prefix):
                return name
        return None

    def read(self, name):
        with open(self.queue + "/" + name, "rb") as f:
            return f.read()

    def remove(self, name):
        os.remove(self.queue + "/" + name)

    def count(self):
        """(frames waiting, of which alarms and test alarms)."""
        frames = alarms = 0
        for name in self._walk():
            frames += 1
            alarms += kind_of(name) in _ALARMS
        return frames, alarms

    def drop_heartbeat(self, keep):
        """Delete the oldest heartbeat if more than `keep` wait; True if one went."""
        count, oldest = 0, None
        for name in self._walk():
            if kind_of(name) == frame.HEARTBEAT:
                count += 1
                if oldest is None or name < oldest:
                    oldest = name
        if count <= keep:
            return False
        self.remove(oldest)
        return True

    def free_blocks(self):
        return free_blocks(self.folder)


def name_of(counter, kind):
    return "%08x-%02x" % (counter, kind)
