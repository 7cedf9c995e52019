# Files on the button's flash that survive a power cut at any instant: write
# under a temporary name, then rename (atomic on littlefs and POSIX), so a
# reader finds the old content or the new one, never half of one.
import os

NO_SPACE = 28  # errno ENOSPC: the flash is full


def write_atomic(path, data):
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb" if isinstance(data, (bytes, bytearray)) else "w") as f:
            f.write(data)
        os.rename(tmp, path)
    except OSError:
        # No room, or a failing block: the old content stands, and no half file
        # is left to take the room of the next try.
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def ensure_folder(path):
    if not exists(path):
        os.mkdir(path)


def free_blocks(path):
    # littlefs (and the emulated board's flash) count room in erase blocks.
    return os.statvfs(path)[3]
