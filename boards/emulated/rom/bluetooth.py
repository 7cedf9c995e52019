# MicroPython's `bluetooth` module for the emulated board. Same names, IRQ
# numbers, tuple shapes, return values and errors as the ESP32 port (NimBLE),
# so that the firmware cannot tell it from a real radio. The radio itself is
# a Bumble device on the host (boards/emulated/radio.py).
#
# Peripheral role only: the button never scans or connects as a central, so
# gap_scan / gap_connect / gattc_* raise OSError(EOPNOTSUPP) here.
import _emulink

FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_EOPNOTSUPP = 95
_DEFAULT_BUFFER = 20  # bytes a characteristic holds unless gatts_set_buffer() says more


class UUID:
    def __init__(self, value):
        if isinstance(value, int):
            self._uuid = value
        elif isinstance(value, str) and len(value) == 36:
            self._uuid = value.lower()
        else:
            raise ValueError("invalid UUID")

    def __eq__(self, other):
        return isinstance(other, UUID) and other._uuid == self._uuid

    def __hash__(self):
        return hash(self._uuid)

    def __repr__(self):
        if isinstance(self._uuid, int):
            return "UUID(0x%04x)" % self._uuid
        return "UUID('%s')" % self._uuid


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
        self._values = {}  # value handle -> bytes (the local GATT database)
        self._buffers = {}  # value handle -> (size, append)
        _emulink.on("irq", self._on_irq)

    def active(self, state=None):
        if state is not None:
            _emulink.call("ble_active", bool(state))
            self._active = bool(state)
        return self._active

    def config(self, *args, **kwargs):
        self._check_active()
        if args:
            if kwargs or len(args) != 1:
                raise TypeError("config() takes one parameter name, or keyword arguments")
            return _emulink.call("ble_config_get", args[0])
        _emulink.call("ble_config_set", list(kwargs.items()))

    def irq(self, handler):
        self._handler = handler

    def _on_irq(self, message):
        if self._handler is None:
            return None
        event = message["irq"]
        data = _emulink.decode(message["data"])
        if event == 3:  # _IRQ_GATTS_WRITE: the host sends the written value along
            conn_handle, value_handle, value = data
            size, append = self._buffers.get(value_handle, (_DEFAULT_BUFFER, False))
            old = self._values.get(value_handle, b"") if append else b""
            self._values[value_handle] = (old + value)[:size]  # the port truncates too
            data = (conn_handle, value_handle)
        return self._handler(event, data)

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self._check_active()
        _emulink.call("gap_advertise", interval_us, adv_data, resp_data, bool(connectable))

    def gap_disconnect(self, conn_handle):
        self._check_active()
        return _emulink.call("gap_disconnect", conn_handle)

    def gap_pair(self, conn_handle):
        self._check_active()
        _emulink.call("gap_pair", conn_handle)

    def gap_passkey(self, conn_handle, action, passkey):
        self._check_active()
        _emulink.call("gap_passkey", conn_handle, action, passkey)

    def gatts_register_services(self, services):
        self._check_active()
        handles = _emulink.call("gatts_register_services", services)
        self._values = {}
        for service in handles:
            for handle in service:
                self._values[handle] = b""
        return handles

    def gatts_read(self, value_handle):
        if value_handle not in self._values:
            raise OSError(22)  # EINVAL, as the port does for an unknown handle
        return self._values[value_handle]

    def gatts_write(self, value_handle, data, send_update=False):
        if value_handle not in self._values:
            raise OSError(22)
        self._values[value_handle] = bytes(data)
        _emulink.call("gatts_write", value_handle, data, bool(send_update))

    def gatts_notify(self, conn_handle, value_handle, data=None):
        self._check_active()
        if data is None:
            data = self.gatts_read(value_handle)
        _emulink.call("gatts_notify", conn_handle, value_handle, data)

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        self._check_active()
        if data is None:
            data = self.gatts_read(value_handle)
        _emulink.call("gatts_indicate", conn_handle, value_handle, data)

    def gatts_set_buffer(self, value_handle, size, append=False):
        self._buffers[value_handle] = (size, append)

    def _check_active(self):
        if not self._active:
            raise OSError(1)  # EPERM: the port's answer when the radio is off

    def _unsupported(self, *args, **kwargs):
        raise OSError(_EOPNOTSUPP)

    gap_scan = gap_connect = _unsupported
    gattc_discover_services = gattc_discover_characteristics = _unsupported
    gattc_discover_descriptors = gattc_read = gattc_write = gattc_exchange_mtu = _unsupported
