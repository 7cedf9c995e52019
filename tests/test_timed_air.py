"""The timed air (boards/emulated/timed_air.py): packets wait for the connection event
that carries them, advertising has its advDelay, lost links end by the supervision
timeout. Two Bumble devices on the air, as the board's radio and the phone are."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from bumble import ll
from bumble.core import UUID
from bumble.device import Connection, Device, Peer
from bumble.gatt import Characteristic, Service

from boards.emulated.controller import device_on
from boards.emulated.timed_air import LinkClock, TimedAir, _key
from msa.waiting import within

SERVICE = UUID("6e400001-0000-4000-8000-00805f9b34fb")
VALUE = UUID("6e400002-0000-4000-8000-00805f9b34fb")
INTERVAL_MS = 100.0
LATENCY = 2
TIMEOUT_MS = 1000.0
EARLY_S = 0.002  # the loop's own rounding: a packet is never this much before its event


def device(name: str, air: TimedAir) -> Device:
    return device_on(air, name)


@dataclass
class Link:
    air: TimedAir
    peripheral: Device
    central: Device
    to_peripheral: Connection  # the central's side
    to_central: Connection  # the peripheral's side
    characteristic: Characteristic

    @property
    def clock(self) -> LinkClock:
        return self.air.clocks[
            _key(self.to_peripheral.self_address, self.to_peripheral.peer_address)
        ]


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    air = TimedAir(seed=7)
    peripheral, central = device("button", air), device("phone", air)
    characteristic = Characteristic(
        VALUE,
        Characteristic.Properties.NOTIFY | Characteristic.Properties.WRITE,
        Characteristic.READABLE | Characteristic.WRITEABLE,
        b"",
    )
    peripheral.add_service(Service(SERVICE, [characteristic]))
    await peripheral.power_on()
    await central.power_on()
    accepted: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
    peripheral.on("connection", accepted.set_result)
    await peripheral.start_advertising(auto_restart=False)
    connection = await central.connect(peripheral.random_address)
    await connection.update_parameters(INTERVAL_MS, INTERVAL_MS, LATENCY, TIMEOUT_MS)
    peer_side = await within(accepted, 5)
    clock = air.clocks[_key(connection.self_address, connection.peer_address)]
    await within(_until(lambda: clock.interval_s == INTERVAL_MS / 1000), 5)
    yield Link(air, peripheral, central, connection, peer_side, characteristic)
    for side in (central, peripheral):
        await side.host.reset()


async def _until(condition) -> None:  # noqa: ANN001 (a test helper)
    while not condition():
        await asyncio.sleep(0.001)


async def test_a_notification_waits_for_the_next_connection_event(link: Link):
    peer = Peer(link.to_peripheral)
    await peer.discover_services()
    [found] = await peer.discover_characteristics([VALUE])
    arrivals: asyncio.Queue[float] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    await peer.subscribe(found, lambda _value: arrivals.put_nowait(loop.time()))
    for i in range(6):
        await asyncio.sleep(random.uniform(0, INTERVAL_MS / 1000))
        sent = loop.time()
        event = link.clock.time_of(link.clock.next_event(sent))
        await link.peripheral.notify_subscribers(link.characteristic, bytes([i]), force=True)
        arrived = await within(arrivals.get(), 5)
        assert arrived >= event - EARLY_S, f"{(event - arrived) * 1000:.1f} ms early"


async def test_a_write_waits_for_an_event_the_peripheral_listens_at(link: Link):
    peer = Peer(link.to_peripheral)
    await peer.discover_services()
    [found] = await peer.discover_characteristics([VALUE])
    loop = asyncio.get_running_loop()
    written: asyncio.Queue[float] = asyncio.Queue()
    link.characteristic.on("write", lambda *_args: written.put_nowait(loop.time()))
    for i in range(4):
        await asyncio.sleep(random.uniform(0, INTERVAL_MS / 1000))
        sent = loop.time()
        clock = link.clock
        every = 1 + clock.latency
        first = clock.next_event(sent)
        listening = clock.time_of(-(-first // every) * every)
        await found.write_value(bytes([i]), with_response=True)
        arrived = await within(written.get(), 5)
        assert arrived >= listening - EARLY_S


def test_the_peripheral_attends_every_listening_event_and_those_it_sends_in():
    clock = LinkClock("central", None, anchor=0.0, interval_s=0.1, latency=2, timeout_s=1.0)
    assert clock.attended(0.95) == 4  # events 0, 3, 6, 9
    clock.due(0.41, from_central=False)  # data for event 5: woken for it
    clock.due(0.42, from_central=False)  # the same event again: counted once
    assert clock.due(0.43, from_central=True) == pytest.approx(0.5)  # it listens at 5 too
    assert clock.attended(0.95) == 5
    clock.due(0.55, from_central=False)  # event 6 is a listening event anyway
    assert clock.attended(0.95) == 5


def test_an_update_takes_effect_from_its_instant_and_keeps_the_count():
    clock = LinkClock("central", None, anchor=0.0, interval_s=0.015, latency=0, timeout_s=1.0)
    clock.update(1.5, interval_s=0.125, latency=2, timeout_s=4.0)
    before = clock.attended(1.5)
    assert before == 101 + 1  # 0..100 at 15 ms, then the first event of the new ones
    assert clock.attended(1.5 + 3.75) == before + 10  # one event in three at 125 ms


async def test_advertising_events_come_at_the_interval_plus_a_random_delay():
    air = TimedAir(seed=3)
    button, scanner = device("button", air), device("scanner", air)
    await button.power_on()
    await scanner.power_on()
    loop = asyncio.get_running_loop()
    heard: list[float] = []
    [listener] = [c for c in air.controllers if c.random_address == scanner.random_address]
    [advertiser] = [c for c in air.controllers if c.random_address == button.random_address]
    original = listener.on_ll_advertising_pdu

    def on_pdu(packet: ll.AdvertisingPdu) -> None:
        heard.append(loop.time())
        original(packet)

    listener.on_ll_advertising_pdu = on_pdu  # type: ignore[method-assign]
    interval_ms = 20.0
    await button.start_advertising(
        advertising_interval_min=interval_ms, advertising_interval_max=interval_ms
    )
    await within(_until(lambda: len(heard) >= 12), 10)
    await button.stop_advertising()
    gaps = [b - a for a, b in zip(heard, heard[1:], strict=False)]
    assert min(gaps) >= interval_ms / 1000 - EARLY_S
    assert max(gaps) - min(gaps) > 0.001, "advDelay: the gaps are not all the same"
    assert air.advertising_events(advertiser) >= len(heard)  # counted as they went


async def test_a_vanished_peer_ends_the_link_by_the_supervision_timeout(link: Link):
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[float] = loop.create_future()
    link.to_peripheral.on("disconnection", lambda _reason: ended.set_result(loop.time()))
    gone = loop.time()
    link.air.out_of_range(link.peripheral.random_address.to_string(False))
    assert await within(ended, 5) >= gone + TIMEOUT_MS / 1000 - EARLY_S
