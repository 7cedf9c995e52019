# The button's firmware: a press becomes a signed alarm frame in flash, then
# the sender delivers it to the bonded phone. Nothing lights, sounds or buzzes.
#
# Every task runs supervised: an uncaught exception is written to flash and
# the board resets (machine.reset) into the same bonded state, its outbox
# intact; a hang starves the watchdog, which resets it too. The first
# heartbeat after such a reboot carries the RECOVERED flag.
#
# An error while starting (a broken setting, a flash error, too little memory)
# never leaves the button without its radio: it resets into reduced mode
# (protocol/SPEC.md §3.1), which keeps only what an alarm needs and says so in
# every heartbeat until the button is provisioned again.
#
# The settings are read first, and their checks unloaded, before the rest of
# the firmware is imported (firmware/device.py): the heap's high-water mark
# is then lower than with both in memory at once.
import asyncio
import gc
import sys
import time

import machine

from firmware.flash import ensure_folder, write_atomic
from firmware.hardware import Hardware

VERSION = "0.3.0"
CRASHED = "data/crashed"  # what crashed, for the next boot to report
REDUCED = "data/reduced"  # why reduced mode began (read back by settings.reduced_reason)
_REDUCED_RETRY_MS = 30000  # reduced mode failing too: try again, but not in a tight loop
_provisioning = ""  # device.json's fingerprint, for the note that starts reduced mode


def run(board):
    hardware = Hardware(board)
    hardware.silence()
    app = None
    reduced = None
    try:
        provisioned, reduced = _settings()
        if provisioned is None:
            print("msa: not provisioned; the radio stays off")
            return
        mode = " (reduced mode: %s)" % reduced if reduced else ""
        device = "device %08x%s" % (provisioned.device_id, mode)
        print("msa: firmware", VERSION, "on", hardware.name, device)
        gc.collect()  # the checks' garbage gone before the big imports: less fragmentation
        from firmware.device import App

        app = App(hardware, provisioned, reduced is not None)
        asyncio.run(app.main())
    except Exception as error:  # KeyboardInterrupt (a developer's Ctrl-C) is no Exception
        up = app is not None and app.up
        crash("main" if up else "start-up", error, reduced is not None)


def _settings():
    # (settings, why reduced mode, or None), then the checks are unloaded and
    # give their heap back (about 5 KB).
    global _provisioning
    import firmware
    from firmware import settings

    try:
        reduced = settings.reduced_reason()
        _provisioning = settings.fingerprint()
    except OSError:  # no device.json
        reduced = None
    provisioned = settings.load(reduced=reduced is not None)
    del sys.modules["firmware.settings"]
    if hasattr(firmware, "settings"):
        delattr(firmware, "settings")
    return provisioned, reduced


def crash(where, error, reduced=False):
    print("msa: crash in", where)
    sys.print_exception(error)
    try:
        ensure_folder("data")  # a new button may fail before its outbox made it
        if where == "start-up":
            if reduced:  # reduced mode failed too: try again, slowly
                print("msa: reduced mode failed to start; trying again")
                time.sleep_ms(_REDUCED_RETRY_MS)
            else:
                print("msa: start-up failed: restarting in reduced mode")
                write_atomic(REDUCED, "%s\n%s: %r" % (_provisioning, where, error))
        write_atomic(CRASHED, "%s: %r" % (where, error))
    except Exception:  # the reset matters more than the notes
        pass
    machine.reset()


def supervised(where, coro):
    async def run():
        try:
            await coro
        except Exception as error:
            crash(where, error)

    return asyncio.create_task(run())
