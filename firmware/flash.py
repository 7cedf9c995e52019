# Files on the button's flash that survive a power cut at any instant: write
# under a temporary name, then rename (atomic on littlefs and POSIX), so a
# reader finds the old content or the new one, never half of one.
import os


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb" if isinstance(data, (bytes, bytearray)) else "w") as f:
        f.write(data)
    os.rename(tmp, path)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def ensure_folder(path):
    if not exists(path):
        os.mkdir(path)
