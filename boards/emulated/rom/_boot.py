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


# The flash, counted as littlefs counts it (_flash.py): the emulator gives its size.
if os.getenv("MSA_FLASH_BLOCKS"):
    import _flash

    _faults = os.getenv("MSA_FLASH_FAULTS")
    _flash.mount(int(os.getenv("MSA_FLASH_BLOCKS")), _faults.split(",") if _faults else ())

_run("boot.py")
if not os.getenv("MSA_BOOT_RAW"):
    _run("main.py")
