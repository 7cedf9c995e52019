# Runs on the board: `msa firmware deploy` sends this file through the raw REPL
# and calls its functions there, to see what the flash holds and to replace a
# file only once its new content is wholly written.
import hashlib
import os
from binascii import hexlify

_CHUNK = 512
_DIR = 0x4000


def sha256(path):
    digest = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
    return hexlify(digest.digest()).decode()


def manifest(paths, folders):
    # sha256 of each of `paths` that exists, and of every file in `folders`
    hashes = {}
    for path in paths:
        try:
            hashes[path] = sha256(path)
        except OSError:
            pass
    for folder in folders:
        try:
            entries = list(os.ilistdir(folder))
        except OSError:
            continue
        for entry in entries:
            path = folder + "/" + entry[0]
            if entry[1] & _DIR == 0 and path not in hashes:
                hashes[path] = sha256(path)
    return hashes


def makedirs(path):
    here = ""
    for part in path.split("/"):
        here = here + "/" + part if here else part
        try:
            os.mkdir(here)
        except OSError:
            pass  # already there


def replace(temporary, path):
    try:
        os.rename(temporary, path)
    except OSError:  # a filesystem that will not rename over a file
        os.remove(path)
        os.rename(temporary, path)


def machine():
    # what the board says it is, e.g. "Generic ESP32 module with ESP32"
    import sys

    return getattr(sys.implementation, "_machine", sys.platform)
