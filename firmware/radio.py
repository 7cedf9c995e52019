# The button's BLE peripheral, in aioble's manner: one IRQ handler that only
# records what happened and wakes the tasks; the work happens in
# firmware/sender.py. The BLE object is passed in (board.radio()), so a real
# port's radio and the emulated board's are interchangeable.
#
# Once bonded the button is private and closed (docs/power.md, docs/firmware.md):
# it advertises under resolvable private addresses that only the bonded phone can
# resolve, refuses to bond again, and drops any link that is not encrypted with
# the existing bond within GRACE_MS. MicroPython has no filter accept list; this
# is its nearest equivalent. The tech desk re-provisions the button to re-pair.
import asyncio
import time

import bluetooth
from micropython import const

from protocol import frame, gatt

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_READ_REQUEST = const(4)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_CONNECTION_UPDATE = const(27)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

_FLAG_READ = const(0x0002)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_FLAG_READ_ENCRYPTED = const(0x0200)
_FLAG_WRITE_ENCRYPTED = const(0x1000)

_GATTS_NO_ERROR = const(0)
_GATTS_ERROR_INSUFFICIENT_AUTHORIZATION = const(0x08)

_IO_NO_INPUT_OUTPUT = const(3)  # "Just Works": the button has no display or keys
_ADDR_MODE_RPA = const(2)
_SEC_OUR = const(1)  # NimBLE's store object types: our keys, the peer's keys
_SEC_PEER = const(2)
GRACE_MS = const(2000)  # a bonded phone encrypts within a few connection events
_DEFAULT_MTU = const(23)
_PREFERRED_MTU = const(128)
_MAX_WRITES = const(16)  # control frames waiting for the sender; more are dropped
_FIRST_RETRY_MS = const(500)  # a frame not acknowledged by then is sent again...
_RETRY_ROUND_TRIPS = const(2)  # ...or after two of the link's round trips, if longer

# Flags only (LE General Discoverable, no BR/EDR): no name, no service UUID,
# no manufacturer data. Nothing a scanner could tell an alarm button by.
ADV_DATA = b"\x02\x01\x06"

_FRAME_FLAGS = (
    _FLAG_READ | _FLAG_WRITE | _FLAG_NOTIFY | _FLAG_READ_ENCRYPTED | _FLAG_WRITE_ENCRYPTED
)
_INFO_FLAGS = _FLAG_READ | _FLAG_READ_ENCRYPTED
# Device Information Service: Firmware Revision String, Model Number String.
_DIS_UUID = const(0x180A)
_FIRMWARE_REVISION_UUID = const(0x2A26)
_MODEL_NUMBER_UUID = const(0x2A24)


class Radio:
    def __init__(self, ble, bonds, hardware, version):
        self.ble = ble
        self.bonds = bonds
        self.adv_interval_us = hardware.adv_interval_us
        self.grace_ms = getattr(hardware.board, "UNBONDED_GRACE_MS", GRACE_MS)
        self.conn = None
        self.trusted = False  # encrypted with the one bond: frames and reads allowed
        self.mtu = _DEFAULT_MTU
        self.first_retry_ms = _FIRST_RETRY_MS
        self.advertising = False
        self.new_link = False  # set on each encryption; the sender re-sends at once
        self.writes = []  # control frames the phone wrote, oldest first
        self.published = b""  # the oldest unacknowledged frame, for a phone that reads it
        self.changed = asyncio.ThreadSafeFlag()
        self.closed = self._has_bond()  # bonded: private, and no second bond
        self._private = False
        self._deadline = None  # ticks_ms by which the link must be trusted
        self._connected_at = time.ticks_ms()  # of the link
        self._refuse = False  # drop the link at once (it is not the bonded phone)

        ble.active(True)
        ble.config(gap_name="", bond=True, le_secure=True, mitm=False, io=_IO_NO_INPUT_OUTPUT)
        ble.config(mtu=_PREFERRED_MTU)
        ble.irq(self._irq)
        frames = (
            bluetooth.UUID(gatt.SERVICE_UUID),
            ((bluetooth.UUID(gatt.FRAME_UUID), _FRAME_FLAGS),),
        )
        info = (
            bluetooth.UUID(_DIS_UUID),
            (
                (bluetooth.UUID(_FIRMWARE_REVISION_UUID), _INFO_FLAGS),
                (bluetooth.UUID(_MODEL_NUMBER_UUID), _INFO_FLAGS),
            ),
        )
        ((self.handle,), (revision, model)) = ble.gatts_register_services((frames, info))
        ble.gatts_set_buffer(self.handle, frame.MAX_FRAME)
        ble.gatts_write(revision, version.encode())
        ble.gatts_write(model, hardware.name.encode())

    def _has_bond(self):
        return any(self.bonds.get(t, 0, None) is not None for t in (_SEC_OUR, _SEC_PEER))

    @property
    def ready(self):
        # Frames go only to the bonded phone's encrypted link, whole.
        return self.conn is not None and self.trusted

    def advertise(self):
        if self.closed and not self._private:
            # Before the first bond the tech desk finds the button by its identity
            # address; from then on only the bonded phone can tell who it is.
            self.ble.config(bond=False, addr_mode=_ADDR_MODE_RPA)
            self._private = True
        self.ble.gap_advertise(self.adv_interval_us, adv_data=ADV_DATA, resp_data=b"")
        self.advertising = True

    def police(self):
        # Drop a link that is not the bonded phone's; ms until the next check, or None.
        if self.conn is None or self.trusted or self._deadline is None:
            return None
        left = time.ticks_diff(self._deadline, time.ticks_ms())
        if left > 0 and not self._refuse:
            return left
        print(
            "msa: dropped a link that is not the bonded phone's, after %d ms"
            % time.ticks_diff(time.ticks_ms(), self._connected_at)
        )
        self._deadline = None
        try:
            self.ble.gap_disconnect(self.conn)
        except OSError:
            pass  # already gone; the IRQ follows
        return None

    def publish(self, data):
        # The Frame characteristic reads as the oldest unacknowledged frame: a
        # phone whose MTU is too small for notifications reads it. It is written
        # into the characteristic only as a read is answered, in the stack's task
        # (_IRQ_GATTS_READ_REQUEST): the phone writes its control frames into the
        # same value, and a gatts_write from here could land between the phone's
        # write and the IRQ that reads it, which would then read our frame.
        self.published = data or b""

    def notify(self, data):
        if self.mtu >= frame.MIN_ATT_MTU:
            self.ble.gatts_notify(self.conn, self.handle, data)

    def _irq(self, event, data):
        result = None
        if event == _IRQ_CENTRAL_CONNECT:
            self.conn, self.trusted = data[0], False
            self.mtu = _DEFAULT_MTU
            self.first_retry_ms = _FIRST_RETRY_MS
            self.advertising = False
            self._refuse = False
            self._connected_at = now = time.ticks_ms()
            self._deadline = time.ticks_add(now, self.grace_ms) if self.closed else None
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self.conn:
                self.conn, self.trusted = None, False
                self._deadline = None
            self.advertising = False
        elif event == _IRQ_GATTS_WRITE:
            conn, handle = data
            if (
                conn == self.conn
                and self.trusted
                and handle == self.handle
                and len(self.writes) < _MAX_WRITES
            ):
                self.writes.append(bytes(self.ble.gatts_read(handle)))
        elif event == _IRQ_GATTS_READ_REQUEST:
            # Encryption alone is not enough: a stranger's fresh pairing encrypts too.
            ok = data[0] == self.conn and self.trusted
            if ok and data[1] == self.handle:
                self.ble.gatts_write(self.handle, self.published)
            return _GATTS_NO_ERROR if ok else _GATTS_ERROR_INSUFFICIENT_AUTHORIZATION
        elif event == _IRQ_CONNECTION_UPDATE:
            conn, interval, latency, _timeout, _status = data
            if conn == self.conn:
                # A notification waits for the next event (one interval), the ACK
                # for an event the button listens at (1 + latency intervals).
                round_trip_ms = interval * 5 // 4 * (latency + 2)
                self.first_retry_ms = max(_FIRST_RETRY_MS, _RETRY_ROUND_TRIPS * round_trip_ms)
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self.conn:
                self.mtu = data[1]
        elif event == _IRQ_ENCRYPTION_UPDATE:
            conn, encrypted, _authenticated, bonded, _key_size = data
            if conn == self.conn:
                self.trusted = bool(encrypted) and bool(bonded)
                self._refuse = self.closed and not self.trusted
                self.new_link = self.trusted
        elif event == _IRQ_GET_SECRET:
            return self.bonds.get(*data)
        elif event == _IRQ_SET_SECRET:
            sec_type, key, value = data
            if sec_type in (_SEC_OUR, _SEC_PEER) and self.closed and value is not None:
                if self.bonds.get(sec_type, 0, key) is None:
                    self.changed.set()
                    return False  # one bond only: a second phone is never stored
            result = self.bonds.set(sec_type, key, value)
            if not self.closed and self._has_bond():
                self.closed = True
                print("msa: bonded")  # on USB only: the tech desk waits for it
        self.changed.set()
        return result
