# What a port's C main() does at power-up: mount the flash, run boot.py, then
# main.py, from the flash (the working directory). After a soft reset into the raw REPL the port
# skips main.py; the emulator says so with MSA_BOOT_RAW=1.
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


# The ROMFS partition, when the firmware is in one: mounted at /rom, ahead of the
# flash on sys.path, as a port built with MICROPY_VFS_ROM does. A board maps the
# partition's flash into its address space; here the image is read into the
# heap, first, as one block that is never freed (the emulator gives the heap
# its size on top), and imports from it run their bytecode in place all the same.
if os.getenv("MSA_ROMFS"):
    import vfs

    with open(os.getenv("MSA_ROMFS"), "rb") as _image:
        vfs.mount(vfs.VfsRom(_image.read()), "/rom")
    sys.path[0:0] = ["/rom", "/rom/lib"]
    del _image, vfs

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
