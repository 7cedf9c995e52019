# What a port's C main() does at power-up: mount the flash, run boot.py, then
# main.py, from the flash (the working directory). After a soft reset into the raw REPL the port
# skips main.py, and the emulator's Ctrl-C restarts here without it (boards/emulated/
# console.py): the emulator says so with MSA_BOOT_RAW=1.
import os
import sys


def _run(name):
    try:
        os.stat(name)
    except OSError:
        return
    try:
        execfile(name)  # noqa: F821 (a MicroPython builtin)
    except Exception as error:
        sys.print_exception(error)
    except KeyboardInterrupt as error:
        sys.print_exception(error)


# The ROMFS partition, if the firmware is in one: first, before anything else
# takes the heap (_romfs.py).
import _romfs  # noqa: E402

_romfs.mount()

# The flash, counted as littlefs counts it (_flash.py): the emulator gives its size.
# Imports read the same files by their full path, past the counting: a read
# takes no room, and imports through a VFS written in Python would cost the
# firmware's heap what a port's C VFS does not.
if os.getenv("MSA_FLASH_BLOCKS"):
    import _flash

    _here = os.getcwd()
    _faults = os.getenv("MSA_FLASH_FAULTS")
    _flash.mount(int(os.getenv("MSA_FLASH_BLOCKS")), _faults.split(",") if _faults else ())
    sys.path[:] = [_here + "/" + p if p in ("", "lib") else p for p in sys.path]
    sys.path[:] = [p[:-1] if p.endswith("/") else p for p in sys.path]
    del _here, _faults
    import gc

    gc.collect()  # the count's garbage, before the firmware's imports

# A real port's bluetooth and machine are C, there before any Python runs; these
# are Python, compiled now, on an empty heap, not in the middle of the firmware's.
import bluetooth  # noqa: E402, F401
import machine  # noqa: E402, F401

_run("boot.py")
if not os.getenv("MSA_BOOT_RAW"):
    _run("main.py")
