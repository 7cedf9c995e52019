# Runs on the board under test (MicroPython): the `bluetooth` module's API as
# MicroPython's documentation and the ESP32 port (NimBLE) define it, one line
# per check: "PASS name" or "FAIL name: what was wrong", then "DONE".
# hwtest/test_conformance.py reads the lines; docs/qa.md says how to run it on
# a real board. Each check starts from the radio off.
import sys

import bluetooth

_ENODEV = 19
_EINVAL = 22
_ENOTCONN = 107
_F_READ = bluetooth.FLAG_READ
_F_WRITE = bluetooth.FLAG_WRITE
_F_NOTIFY = bluetooth.FLAG_NOTIFY


class Failed(Exception):
    pass


def expect(value, wanted, what):
    if value != wanted:
        raise Failed("%s: %r, not %r" % (what, value, wanted))


def raises(kind, call, *args, errno=None, text=None, **kwargs):
    try:
        call(*args, **kwargs)
    except kind as error:
        if errno is not None and error.errno != errno:
            raise Failed("%s: errno %r, not %r" % (call, error.errno, errno))
        if text is not None and str(error) != text:
            raise Failed("%s: %r, not %r" % (call, str(error), text))
        return
    except Exception as error:
        raise Failed("%s: %r, not %s" % (call, error, kind.__name__))
    raise Failed("%s%r did not raise %s" % (call, args, kind.__name__))


ble = bluetooth.BLE()
SERVICE = bluetooth.UUID("00000000-1111-2222-3333-444444444444")
CHAR = bluetooth.UUID("00000000-1111-2222-3333-555555555555")
DESC = bluetooth.UUID("00000000-1111-2222-3333-666666666666")


def check_one_radio():
    expect(bluetooth.BLE() is ble, True, "BLE() is a singleton")


def check_config_before_active():
    ble.config(gap_name="before")  # no radio needed
    expect(ble.config("gap_name"), b"before", "gap_name")
    ble.config(bond=True, mitm=False, io=3, le_secure=True)  # no radio needed
    raises(OSError, ble.config, "mac", errno=_ENODEV)
    raises(OSError, ble.config, "mtu", errno=_ENODEV)
    raises(OSError, ble.config, mtu=100, errno=_ENODEV)


def check_config_errors():
    ble.active(True)
    for name in ("nope", "addr_mode", "bond", "mitm", "io", "le_secure", "rxbuf"):
        raises(ValueError, ble.config, name, text="unknown config param")
    raises(ValueError, ble.config, nope=1, text="unknown config param")
    raises(TypeError, ble.config, "mac", gap_name="x", text="can't specify pos and kw args")
    raises(TypeError, ble.config, text="must query one param")
    raises(TypeError, ble.config, "mac", "mtu", text="must query one param")


def check_config_values():
    ble.active(True)
    addr_type, addr = ble.config("mac")
    expect((type(addr_type), type(addr), len(addr)), (int, bytes, 6), "mac")
    expect(ble.config("mtu"), 256, "default mtu")
    ble.config(mtu=100)
    expect(ble.config("mtu"), 100, "mtu")
    raises(OSError, ble.config, mtu=10, errno=_EINVAL)
    ble.config(mtu=256)
    ble.config(gap_name=b"bytes")
    expect(ble.config("gap_name"), b"bytes", "gap_name")


def check_mac_in_rpa_mode():
    ble.active(True)
    ble.config(addr_mode=2)
    raises(OSError, ble.config, "mac", errno=_EINVAL)


def check_radio_off_errno():
    raises(OSError, ble.gap_advertise, 100000, errno=_ENODEV)
    ble.gap_advertise(None)  # stopping needs no radio
    raises(OSError, ble.gatts_register_services, (), errno=_ENODEV)
    raises(OSError, ble.gatts_write, 1, b"x", errno=_ENODEV)
    raises(OSError, ble.gatts_notify, 0, 1, b"x", errno=_ENODEV)
    raises(OSError, ble.gap_scan, 100, errno=_ENODEV)
    raises(OSError, ble.gap_connect, 0, bytes(6), errno=_ENODEV)
    raises(OSError, ble.gap_disconnect, 0, errno=_ENODEV)
    raises(OSError, ble.gattc_read, 0, 1, errno=_ENODEV)
    expect(ble.gatts_read(1234), b"", "gatts_read of nothing")


def check_uuid_forms():
    short = bluetooth.UUID(0x180F)
    expect(repr(short), "UUID(0x180f)", "repr")
    expect(str(short), "UUID(0x180f)", "str")
    expect(bytes(short), b"\x0f\x18", "bytes(uuid): little-endian")
    expect(bluetooth.UUID(b"\x0f\x18"), short, "from a buffer")
    expect(bluetooth.UUID(bytearray(b"\x0f\x18")), short, "from a bytearray")
    expect(bluetooth.UUID(short), short, "from a UUID")
    expect(hash(bluetooth.UUID(0x180F)), hash(short), "hash")
    expect(short == b"\x0f\x18", False, "a UUID is not its bytes")
    long = bluetooth.UUID("6E400001-B5A3-F393-E0A9-E50E24DCCA9E")
    expect(repr(long), "UUID('6e400001-b5a3-f393-e0a9-e50e24dcca9e')", "repr 128")
    expect(bluetooth.UUID("6e400001b5a3f393e0a9e50e24dcca9e"), long, "without dashes")
    expect(bytes(long)[0], 0x9E, "128-bit bytes are little-endian")
    expect(repr(bluetooth.UUID(b"\x78\x56\x34\x12")), "UUID(0x12345678)", "32-bit")
    base = bluetooth.UUID("0000180f-0000-1000-8000-00805f9b34fb")
    expect(short == base, False, "16-bit and 128-bit forms differ")
    raises(ValueError, bluetooth.UUID, 0x10000, text="invalid UUID")
    raises(
        ValueError,
        bluetooth.UUID,
        "6e40000x-b5a3-f393-e0a9-e50e24dcca9e",
        text="invalid char in UUID",
    )
    raises(ValueError, bluetooth.UUID, "6e400001-b5a3", text="UUID too short")
    raises(ValueError, bluetooth.UUID, "6e400001b5a3f393e0a9e50e24dcca9e00", text="UUID too long")
    raises(TypeError, bluetooth.UUID, 1.5)


def check_register_services():
    ble.active(True)
    services = ((SERVICE, ((CHAR, _F_READ | _F_WRITE | _F_NOTIFY, ((DESC, _F_READ),)),)),)
    ((value, descriptor),) = ble.gatts_register_services(services)
    expect(descriptor != value, True, "a descriptor has its own handle")
    expect(ble.gatts_read(value), b"", "a new value is empty")
    expect(ble.gatts_write(value, "text"), 4, "gatts_write returns the length; str is a buffer")
    expect(ble.gatts_read(value), b"text", "gatts_read")
    ble.gatts_write(descriptor, memoryview(b"desc"))
    expect(ble.gatts_read(descriptor), b"desc", "a descriptor's value")
    raises(OSError, ble.gatts_write, 999, b"x", errno=_EINVAL)
    raises(OSError, ble.gatts_set_buffer, 999, 10, errno=_EINVAL)
    ble.gatts_set_buffer(value, 100)
    expect(ble.gatts_read(value), b"", "gatts_set_buffer empties the value")
    # Again: everything is replaced, nothing needs a restart.
    ((again,),) = ble.gatts_register_services(((SERVICE, ((CHAR, _F_READ),)),))
    expect(ble.gatts_read(again), b"", "values are reset by a new registration")
    raises(ValueError, ble.gatts_register_services, ((0x180F, ()),), text="invalid service UUID")
    raises(ValueError, ble.gatts_register_services, ((SERVICE, ((CHAR,),)),))


def check_buffers_everywhere():
    ble.active(True)
    ((value,),) = ble.gatts_register_services(((SERVICE, ((CHAR, _F_READ),)),))
    ble.gap_advertise(100000, "\x02\x01\x06", resp_data=bytearray(b"\x03\x09ab"))
    ble.gap_advertise(None)
    raises(TypeError, ble.gatts_write, value, 5)


def check_handler_and_links():
    ble.active(True)
    raises(ValueError, ble.irq, 5, text="invalid handler")
    ble.irq(None)
    expect(ble.gap_disconnect(1234), False, "gap_disconnect of no link")
    ((value,),) = ble.gatts_register_services(((SERVICE, ((CHAR, _F_NOTIFY),)),))
    raises(OSError, ble.gatts_notify, 1234, value, b"x", errno=_ENOTCONN)
    raises(OSError, ble.gap_passkey, 1234, 9, 0, errno=_EINVAL)


for name in sorted(n for n in globals() if n.startswith("check_")):
    ble.active(False)
    try:
        globals()[name]()
        print("PASS", name[6:])
    except Failed as failure:
        print("FAIL %s: %s" % (name[6:], failure))
    except Exception as error:
        print("FAIL %s: %r" % (name[6:], error))
        sys.print_exception(error)
ble.active(False)
print("DONE")
