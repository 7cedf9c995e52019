# What a port's C main() does at power-up: run boot.py, then main.py, from the
# flash (the working directory). After a soft reset into the raw REPL the port
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


_run("boot.py")
if not os.getenv("MSA_BOOT_RAW"):
    _run("main.py")
