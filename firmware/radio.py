# The button's BLE peripheral, in aioble's manner: one IRQ handler that only
# records what happened and wakes the tasks; the work happens in
# firmware/sender.py. The BLE object is passed in (board.radio()), so a real
# port's radio and the emulated board's are interchangeable.
import asyncio

import bluetooth
from micropython import const

from protocol import frame, gatt

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

_FLAG_READ = const(0x0002)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_FLAG_READ_ENCRYPTED = const(0x0200)
_FLAG_WRITE_ENCRYPTED = const(0x1000)

_IO_NO_INPUT_OUTPUT = const(3)  # "Just Works": the button has no display or keys
_DEFAULT_MTU = const(23)
_PREFERRED_MTU = const(128)
_MAX_WRITES = const(8)  # control frames waiting for the sender; more are dropped

# Flags only (LE General Discoverable, no BR/EDR): no name, no service UUID,
# no manufacturer data. Nothing a scanner could tell an alarm button by.
ADV_DATA = b"\x02\x01\x06"

_FRAME_FLAGS = (
    _FLAG_READ | _FLAG_WRITE | _FLAG_NOTIFY | _FLAG_READ_ENCRYPTED | _FLAG_WRITE_ENCRYPTED
)


class Radio:
    def __init__(self, ble, bonds, adv_interval_us):
        self.ble = ble
        self.bonds = bonds
        self.adv_interval_us = adv_interval_us
        self.conn = None
        self.encrypted = False
        self.bonded = False
        self.mtu = _DEFAULT_MTU
        self.advertising = False
        self.new_link = False  # set on each encryption; the sender re-sends at once
        self.writes = []  # control frames the phone wrote, oldest first
        self.changed = asyncio.ThreadSafeFlag()

        ble.active(True)
        ble.config(gap_name="", bond=True, le_secure=True, mitm=False, io=_IO_NO_INPUT_OUTPUT)
        ble.config(mtu=_PREFERRED_MTU)
        ble.irq(self._irq)
        service = (
            bluetooth.UUID(gatt.SERVICE_UUID),
            ((bluetooth.UUID(gatt.FRAME_UUID), _FRAME_FLAGS),),
        )
        ((self.handle,),) = ble.gatts_register_services((service,))
        ble.gatts_set_buffer(self.handle, frame.MAX_FRAME)

    @property
    def ready(self):
        # Frames go only to an encrypted, bonded link that can carry them whole.
        return self.conn is not None and self.encrypted and self.bonded

    def advertise(self):
        self.ble.gap_advertise(self.adv_interval_us, adv_data=ADV_DATA, resp_data=b"")
        self.advertising = True

    def publish(self, data):
        # The Frame characteristic's value is always the oldest unacknowledged
        # frame: a phone whose MTU is too small for notifications reads it.
        self.ble.gatts_write(self.handle, data or b"")

    def notify(self, data):
        if self.mtu >= frame.MIN_ATT_MTU:
            self.ble.gatts_notify(self.conn, self.handle, data)

    def _irq(self, event, data):
        result = None
        if event == _IRQ_CENTRAL_CONNECT:
            self.conn, self.encrypted, self.bonded = data[0], False, False
            self.mtu = _DEFAULT_MTU
            self.advertising = False
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self.conn:
                self.conn, self.encrypted, self.bonded = None, False, False
            self.advertising = False
        elif event == _IRQ_GATTS_WRITE:
            conn, handle = data
            if conn == self.conn and handle == self.handle and len(self.writes) < _MAX_WRITES:
                self.writes.append(bytes(self.ble.gatts_read(handle)))
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self.conn:
                self.mtu = data[1]
        elif event == _IRQ_ENCRYPTION_UPDATE:
            conn, encrypted, _authenticated, bonded, _key_size = data
            if conn == self.conn:
                self.encrypted, self.bonded = bool(encrypted), bool(bonded)
                self.new_link = self.encrypted
        elif event == _IRQ_GET_SECRET:
            return self.bonds.get(*data)
        elif event == _IRQ_SET_SECRET:
            result = self.bonds.set(*data)
        self.changed.set()
        return result
