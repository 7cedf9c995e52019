# MicroPython's `bluetooth` module for the emulated board, as the ESP32 port
# (NimBLE) has it: both roles, the same names, IRQ numbers, tuple shapes,
# return values, error types and errnos (extmod/modbluetooth.c and
# extmod/nimble/modbluetooth_nimble.c; docs/firmware.md lists what differs).
# The radio itself is a Bumble device on the host (boards/emulated/radio.py).
import _emulink

FLAG_BROADCAST = 0x0001
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_ENODEV = 19  # NimBLE's answer while the radio is off (ERRNO_BLUETOOTH_NOT_ACTIVE)
_EINVAL = 22
_CONFIG_GET = ("gap_name", "mac", "mtu")
_CONFIG_SET = ("gap_name", "mtu", "addr_mode", "bond", "mitm", "io", "le_secure")
# IRQs whose tuple members are (position, kind) reused buffers: a port's handler
# gets memoryviews into the stack's buffers, valid only during the call.
_IRQ_SCAN_RESULT = 5
_IRQ_GATTS_WRITE = 3
_IRQ_VIEWS = {
    1: (2,),
    2: (2,),
    7: (2,),
    8: (2,),
    _IRQ_SCAN_RESULT: (1, 4),
    15: (2,),
    18: (2,),
    19: (2,),
    29: (2,),
    30: (1, 2),
}


def _buffer(data):
    # What mp_get_buffer_raise() takes: bytes, bytearray, memoryview, str.
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError("object with buffer protocol required")


def _optional_buffer(data):
    return None if data is None else _buffer(data)


def _hex_uuid(text):
    digits = ""
    for c in text:
        if c == "-":
            continue
        if c not in "0123456789abcdefABCDEF":
            raise ValueError("invalid char in UUID")
        if len(digits) == 32:
            raise ValueError("UUID too long")
        digits += c
    if len(digits) < 32:
        raise ValueError("UUID too short")
    return bytes(reversed(bytes.fromhex(digits)))


class UUID:
    # Kept as the port keeps it: little-endian bytes, 2, 4 or 16 of them.
    # bytes(uuid) gives them; MicroPython classes written in Python cannot offer
    # the buffer protocol itself, so memoryview(uuid) does not (docs/firmware.md).
    def __init__(self, value):
        if isinstance(value, UUID):
            self._le = value._le
        elif isinstance(value, bool):
            raise TypeError("object with buffer protocol required")
        elif isinstance(value, int):
            if value > 65535:
                raise ValueError("invalid UUID")
            self._le = bytes((value & 0xFF, (value >> 8) & 0xFF))
        else:
            data = _buffer(value)
            if len(data) in (2, 4, 16):
                self._le = data
            else:
                self._le = _hex_uuid(data.decode())

    def __len__(self):
        return len(self._le)

    def __iter__(self):
        return iter(self._le)

    def __getitem__(self, index):
        return self._le[index]

    def __eq__(self, other):
        return isinstance(other, UUID) and other._le == self._le

    def __ne__(self, other):
        return not self.__eq__(other)

    def _key(self, other):
        if not isinstance(other, UUID):
            raise TypeError("unsupported types for comparison")
        # By size first, then the bytes as stored (the port's mp_seq_cmp_bytes).
        return (len(self._le), self._le), (len(other._le), other._le)

    def __lt__(self, other):
        a, b = self._key(other)
        return a < b

    def __le__(self, other):
        a, b = self._key(other)
        return a <= b

    def __gt__(self, other):
        a, b = self._key(other)
        return a > b

    def __ge__(self, other):
        a, b = self._key(other)
        return a >= b

    def __hash__(self):
        return hash(self._le)

    def __repr__(self):
        h = bytes(reversed(self._le)).hex()
        if len(self._le) <= 4:
            return "UUID(0x%s)" % h
        return "UUID('%s-%s-%s-%s-%s')" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    __str__ = __repr__


class BLE:
    # One radio: every BLE() is the same object, as on real ports.
    _instance = None

    def __new__(cls):
        if BLE._instance is None:
            BLE._instance = object.__new__(cls)
            BLE._instance._setup()
        return BLE._instance

    def __init__(self):
        pass

    def _setup(self):
        self._active = False
        self._handler = None
        # The values live in the stack (the host's radio), as NimBLE's GATT
        # database does on a board: one copy, read and written by both sides.
        self._handles = set()  # the value handles registered
        self._views = [None, None]  # the reused buffers behind IRQ memoryviews
        _emulink.on("irq", self._on_irq)

    def active(self, state=None):
        if state is not None:
            _emulink.call("ble_active", bool(state))
            self._active = bool(state)
            if not self._active:
                self._handles = set()
        return self._active

    def config(self, *args, **kwargs):
        if not kwargs:
            if len(args) != 1:
                raise TypeError("must query one param")
            name = args[0]
            if not isinstance(name, str):
                raise TypeError("can't convert %s to str" % type(name).__name__)
            if name not in _CONFIG_GET:
                raise ValueError("unknown config param")
            return _emulink.call("ble_config_get", name)
        if args:
            raise TypeError("can't specify pos and kw args")
        for name, value in kwargs.items():  # one at a time: a bad key stops there
            if name not in _CONFIG_SET:
                raise ValueError("unknown config param")
            if name == "gap_name":
                value = _buffer(value)
            elif name in ("bond", "mitm", "le_secure"):
                value = bool(value)
            else:
                value = int(value)
            _emulink.call("ble_config_set", name, value)

    def irq(self, handler):
        if handler is not None and not callable(handler):
            raise ValueError("invalid handler")
        self._handler = handler

    def _on_irq(self, message):
        event = message["irq"]
        data = _emulink.decode(message["data"])
        if event == 9 or event == 11 or event == 13:  # a discovery's UUID
            data = data[:-1] + (UUID(data[-1]),)
        handler = self._handler
        if handler is None:
            return None
        views = _IRQ_VIEWS.get(event)
        if views:
            data = self._as_views(data, views)
        try:
            return handler(event, data)
        except Exception:
            # As the port does: print it and switch the handler off.
            print("Unhandled exception in IRQ callback handler")
            self._handler = None
            raise
        finally:
            if views:  # the stack reuses its buffers: a kept view changes under you
                for buffer in self._views:
                    if buffer is not None:
                        buffer[:] = bytes(len(buffer))

    def _as_views(self, data, positions):
        data = list(data)
        for n, position in enumerate(positions):
            value = data[position]
            if value is not None:
                buffer = self._views[n]
                if buffer is None or len(buffer) < len(value):
                    buffer = self._views[n] = bytearray(max(len(value), 16))
                buffer[: len(value)] = value
                data[position] = memoryview(buffer)[: len(value)]
        return tuple(data)

    # -- GAP -------------------------------------------------------------------

    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        if interval_us is None:
            if self._active:
                _emulink.call("gap_advertise", None, None, None, True)
            return
        self._check_active()
        adv = None if adv_data is None else _buffer(adv_data)
        resp = None if resp_data is None else _buffer(resp_data)
        _emulink.call("gap_advertise", int(interval_us), adv, resp, bool(connectable))

    def gap_scan(self, duration_ms=0, interval_us=1280000, window_us=11250, active=False):
        self._check_active()
        if duration_ms is None:
            _emulink.call("gap_scan", None, 0, 0, False)
            return
        _emulink.call("gap_scan", int(duration_ms), int(interval_us), int(window_us), bool(active))

    def gap_connect(
        self, addr_type, addr=None, scan_duration_ms=2000, min_conn_interval_us=None,
        max_conn_interval_us=None,
    ):  # fmt: skip
        self._check_active()
        if addr_type is None:
            _emulink.call("gap_connect_cancel")
            return
        if addr is None:
            raise TypeError("invalid addr")
        addr = _buffer(addr)
        if len(addr) != 6:
            raise ValueError("invalid addr")
        interval = None if not max_conn_interval_us else int(max_conn_interval_us)
        _emulink.call("gap_connect", int(addr_type), addr, int(scan_duration_ms or 2000), interval)

    def gap_disconnect(self, conn_handle):
        self._check_active()
        return _emulink.call("gap_disconnect", conn_handle)

    def gap_pair(self, conn_handle):
        _emulink.call("gap_pair", conn_handle)

    def gap_passkey(self, conn_handle, action, passkey):
        if action not in (2, 3, 4):
            raise OSError(_EINVAL)
        _emulink.call("gap_passkey", conn_handle, action, int(passkey))

    # -- GATT server -----------------------------------------------------------

    def gatts_register_services(self, services):
        self._check_active()
        for service in services:
            if len(service) != 2 or not isinstance(service[0], UUID):
                raise ValueError("invalid service UUID")
            for characteristic in service[1]:
                if not 2 <= len(characteristic) <= 3:
                    raise ValueError("invalid characteristic tuple")
                if not isinstance(characteristic[0], UUID):
                    raise ValueError("invalid characteristic UUID")
                for descriptor in characteristic[2] if len(characteristic) == 3 else ():
                    if len(descriptor) != 2 or not isinstance(descriptor[0], UUID):
                        raise ValueError("invalid descriptor UUID")
        handles = _emulink.call("gatts_register_services", services)
        self._handles = set(handle for service in handles for handle in service)
        return handles

    def gatts_read(self, value_handle):
        # The port ignores the database's error here: an unknown handle reads b"".
        return _emulink.call("gatts_read", value_handle) if self._active else b""

    def gatts_write(self, value_handle, data, send_update=False):
        self._check_active()
        if value_handle not in self._handles:
            raise OSError(_EINVAL)
        data = _buffer(data)
        _emulink.call("gatts_write", value_handle, data, bool(send_update))
        return len(data)

    def gatts_notify(self, conn_handle, value_handle, data=None):
        # None: the stack sends the database's value.
        self._check_active()
        _emulink.call("gatts_notify", conn_handle, value_handle, _optional_buffer(data))

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        self._check_active()
        _emulink.call("gatts_indicate", conn_handle, value_handle, _optional_buffer(data))

    def gatts_set_buffer(self, value_handle, size, append=False):
        self._check_active()
        if value_handle not in self._handles:
            raise OSError(_EINVAL)
        _emulink.call("gatts_set_buffer", value_handle, int(size), bool(append))

    # -- GATT client -------------------------------------------------------------

    def gattc_discover_services(self, conn_handle, uuid=None):
        self._check_active()
        if uuid is not None and not isinstance(uuid, UUID):
            raise TypeError("UUID")
        _emulink.call("gattc_discover_services", conn_handle, uuid)

    def gattc_discover_characteristics(self, conn_handle, start_handle, end_handle, uuid=None):
        self._check_active()
        if uuid is not None and not isinstance(uuid, UUID):
            raise TypeError("UUID")
        _emulink.call("gattc_discover_characteristics", conn_handle, start_handle, end_handle, uuid)

    def gattc_discover_descriptors(self, conn_handle, start_handle, end_handle):
        self._check_active()
        _emulink.call("gattc_discover_descriptors", conn_handle, start_handle, end_handle)

    def gattc_read(self, conn_handle, value_handle):
        self._check_active()
        _emulink.call("gattc_read", conn_handle, value_handle)

    def gattc_write(self, conn_handle, value_handle, data, mode=0):
        self._check_active()
        if mode not in (0, 1):
            raise OSError(_EINVAL)
        _emulink.call("gattc_write", conn_handle, value_handle, _buffer(data), mode)

    def gattc_exchange_mtu(self, conn_handle):
        _emulink.call("gattc_exchange_mtu", conn_handle)

    def _check_active(self):
        if not self._active:
            raise OSError(_ENODEV)
