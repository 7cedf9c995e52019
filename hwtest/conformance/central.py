# Runs on the board under test (MicroPython) as the central of a two-board
# conformance case, against hwtest/conformance/peripheral.py in MODE "notify".
# PEER = (addr_type, addr) of the peripheral is given by the test (as
# multitest.globals() gives it). Prints what it found, then "DONE".
import time

import bluetooth
import machine

SERVICE = bluetooth.UUID("00000000-1111-2222-3333-444444444444")
CHAR = bluetooth.UUID("00000000-1111-2222-3333-555555555555")
DESC = bluetooth.UUID("00000000-1111-2222-3333-666666666666")
CCCD = bluetooth.UUID(0x2902)
ble = bluetooth.BLE()
ble.active(True)
happened = {}  # event -> its data, copied
adv_types = set()
services, characteristics, descriptors = [], [], []


def irq(event, data):
    if event == 5:
        addr_type, addr, adv_type, rssi, adv_data = data
        if addr_type == PEER[0] and bytes(addr) == PEER[1]:
            adv_types.add(adv_type)
        return
    if event == 9:
        services.append((data[1], data[2], bluetooth.UUID(data[3])))
    elif event == 11:
        characteristics.append((data[1], data[2], data[3], bluetooth.UUID(data[4])))
    elif event == 13:
        descriptors.append((data[1], bluetooth.UUID(data[2])))
    elif event in (15, 18, 19):
        print("IRQ", event, bytes(data[2]))
    happened[event] = tuple(bytes(d) if isinstance(d, memoryview) else d for d in data)


def wait_for(event, timeout_ms=10000):
    start = time.ticks_ms()
    while event not in happened:
        if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
            raise OSError("timeout waiting for IRQ %d" % event)
        machine.idle()
    return happened.pop(event)


ble.irq(irq)
ble.gap_scan(1000, 30000, 30000, True)
wait_for(6)
print("ADV_TYPES", sorted(adv_types))
ble.gap_connect(PEER[0], PEER[1], 5000)
conn, addr_type, addr = wait_for(7)
print("CONNECTED", addr_type, addr == PEER[1])
ble.gattc_discover_services(conn)
print("SERVICES DONE", wait_for(10)[1])
start, end = [(s, e) for s, e, uuid in services if uuid == SERVICE][0]
ble.gattc_discover_characteristics(conn, start, end)
print("CHARACTERISTICS DONE", wait_for(12)[1])
[(char_end, value, properties)] = [(e, v, p) for e, v, p, u in characteristics if u == CHAR]
print("CHARACTERISTIC", properties, char_end == end)
ble.gattc_discover_descriptors(conn, value + 1, char_end)
print("DESCRIPTORS DONE", wait_for(14)[1])
print("DESCRIPTOR UUIDS", sorted(repr(u) for h, u in descriptors))
ble.gattc_read(conn, value)
print("READ DONE", wait_for(16)[2])
cccd = [h for h, u in descriptors if u == CCCD][0]
ble.gattc_write(conn, cccd, b"\x01\x00", 1)
print("WRITE DONE", wait_for(17)[2])
ble.gattc_write(conn, value, "central0", 1)
wait_for(17)
wait_for(18)
ble.gattc_exchange_mtu(conn)
print("MTU", wait_for(21)[1])
print("DISCONNECT", ble.gap_disconnect(conn))
print("DISCONNECTED", wait_for(8)[0] == conn)
ble.gap_connect(PEER[0], bytes(6), 300)  # nobody there: the port's "connection failed"
print("FAILED CONNECT", wait_for(8)[1:])
print("DONE")
