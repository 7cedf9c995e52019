# Runs on the board under test (MicroPython) as the peripheral of a two-party
# conformance case; hwtest/test_conformance_link.py is the central. MODE (given
# by the test) says what the program does while it waits for the central:
#   sleep_ms, sleep, idle, busy: wait that way, IRQs must still be handled
#   passkey: pair with a passkey it displays (io DISPLAY_ONLY, MITM)
#   indicate: indicate each written value back
#   notify: notify each written value back
#   mtu: start the MTU exchange itself, as a peripheral may
#   append: the value appends what centrals write (gatts_set_buffer); the
#     program reads it (twice) at the second write
#   slow_handler: the write's IRQ handler takes HANDLER_MS, the program idles
# Each IRQ is printed as "IRQ <event> <what the program was doing> <data>".
import time

import bluetooth
import machine

_PASSKEY = 123456
WAIT_MS = globals().get("WAIT_MS", 20000)  # the test may give it, like MODE
HANDLER_MS = 3000
ble = bluetooth.BLE()
state = "setup"
kept = None  # an IRQ's address memoryview, kept past the call (which a port forbids)
to_indicate = []

if MODE == "passkey":  # MODE is given by the test
    ble.config(io=0, mitm=True, le_secure=True, bond=False)  # before active(): allowed
ble.active(True)
if MODE == "mtu":
    ble.config(mtu=200)
SERVICE = bluetooth.UUID("00000000-1111-2222-3333-444444444444")
CHAR = bluetooth.UUID("00000000-1111-2222-3333-555555555555")
DESC = bluetooth.UUID("00000000-1111-2222-3333-666666666666")
_FLAGS = (
    bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY | bluetooth.FLAG_INDICATE
)
((value, descriptor),) = ble.gatts_register_services(
    ((SERVICE, ((CHAR, _FLAGS, ((DESC, bluetooth.FLAG_READ),)),)),)
)
ble.gatts_write(value, b"value")
ble.gatts_write(descriptor, b"descriptor")
if MODE == "append":
    ble.gatts_set_buffer(value, 8, True)  # empties it
writes = 0


def irq(event, data):
    global kept, writes
    shown = tuple(bytes(d) if isinstance(d, memoryview) else d for d in data)
    print("IRQ", event, state, shown)
    if event == 1:
        kept = data[2]
        print("ADDR", type(data[2]).__name__, bytes(data[2]).hex())
        if MODE == "mtu":
            ble.gattc_exchange_mtu(data[0])
    elif event == 3:
        print("KEPT", bytes(kept).hex())
        writes += 1
        if MODE in ("indicate", "notify"):
            to_indicate.append((data[0], ble.gatts_read(data[1])))
        elif MODE == "append" and writes == 2:
            print("READ", ble.gatts_read(data[1]), ble.gatts_read(data[1]))
        elif MODE == "slow_handler":
            print("HANDLING")
            begun = time.ticks_ms()
            while time.ticks_diff(time.ticks_ms(), begun) < HANDLER_MS:
                pass
            print("HANDLED")
    elif event == 31:
        ble.gap_passkey(data[0], data[1], _PASSKEY)
        print("PASSKEY", data[1], _PASSKEY)
    elif event == 29:
        return None
    elif event == 30:
        return True
    return None


ble.irq(irq)
ble.gap_advertise(20000, b"\x02\x01\x06", resp_data=b"\x05\x09peri")
addr_type, addr = ble.config("mac")
print("ADVERTISING", addr_type, bytes(addr).hex())  # where a central finds us
start = time.ticks_ms()
state = MODE
if MODE == "sleep_ms":
    time.sleep_ms(WAIT_MS)
elif MODE == "sleep":
    time.sleep(WAIT_MS / 1000)
elif MODE in ("idle", "slow_handler"):
    while time.ticks_diff(time.ticks_ms(), start) < WAIT_MS:
        machine.idle()
elif MODE == "busy":
    n = 0
    while time.ticks_diff(time.ticks_ms(), start) < WAIT_MS:
        n += 1
else:
    while time.ticks_diff(time.ticks_ms(), start) < WAIT_MS:
        while to_indicate:
            conn, data = to_indicate.pop(0)
            if MODE == "notify":
                ble.gatts_notify(conn, value, data)
            else:
                ble.gatts_indicate(conn, value, data)
            print("SENT", data)
        time.sleep_ms(10)
state = "after"
print("WAITED", MODE)
