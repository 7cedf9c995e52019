"""Two-party conformance cases: the board under test as peripheral
(hwtest/conformance/peripheral.py), a Bumble central on the same air.

IRQs reach the program wherever it is, as the ESP32 port delivers them from its
BLE host task: in time.sleep_ms(), time.sleep(), machine.idle() and a busy loop,
not only while an asyncio loop polls. Pairing uses the real IO capabilities;
indications are confirmed; the peripheral may start the MTU exchange."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bumble import hci
from bumble.core import UUID
from bumble.device import Connection, Peer
from bumble.pairing import PairingConfig, PairingDelegate

from boards.emulated.air import Air
from boards.emulated.controller import device_on
from hwtest import programs
from hwtest.bench import Target
from msa.waiting import within

pytestmark = pytest.mark.hil

CHAR = UUID("00000000-1111-2222-3333-555555555555")
DESC = UUID("00000000-1111-2222-3333-666666666666")
PASSKEY = 123456


class Central:
    """A Bumble central on the board's air (the phone's role, any central's)."""

    def __init__(self, air: Air) -> None:
        self.device = device_on(air, "central")

    async def connect(self, address: str) -> Connection:
        await self.device.power_on()
        target = hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
        return await self.device.connect(target, timeout=10)


@pytest.fixture
async def air(target: Target) -> Air:
    if target.kind != "emulated":
        pytest.skip("the central here is a Bumble device on the emulated air")
    return Air()


async def peripheral(
    target: Target, folder: Path, air: Air, mode: str
) -> AsyncIterator[tuple[programs.Running, tuple[int, bytes]]]:
    """peripheral.py running and advertising, with the address it advertises at."""
    running = await programs.start(target, folder, air, programs.source("peripheral.py", MODE=mode))
    try:
        shown = await running.expect(r"ADVERTISING (\d) ([0-9a-f]{12})")
        _, addr_type, addr = shown.split()
        yield running, (int(addr_type), bytes.fromhex(addr))
    finally:
        await running.stop()


@pytest.fixture
async def board(request: pytest.FixtureRequest, target: Target, air: Air, tmp_path):
    async for running, _ in peripheral(target, tmp_path / "board", air, request.param):
        assert isinstance(running, programs.OnEmulatedBoard)  # the air fixture saw to it
        yield running


def irqs(output: str, event: int) -> list[str]:
    return re.findall(rf"^IRQ {event} (\S+) (.*)$", output.replace("\r", ""), re.M)


@pytest.mark.parametrize("board", ["sleep_ms", "sleep", "idle", "busy"], indirect=True)
async def test_a_read_request_is_answered_while_the_program_waits(board, air: Air):
    connection = await Central(air).connect(board.board.address)
    peer = Peer(connection)
    await within(peer.discover_services(), 10)
    [characteristic] = await within(peer.discover_characteristics([CHAR]), 10)
    assert bytes(await within(characteristic.read_value(), 10)) == b"value"
    await board.expect(r"IRQ 4 .*\n")
    [(doing, _data)] = irqs(board.output, 4)
    waiting = re.search(r"^WAITED (\S+)$", board.output, re.M)
    assert waiting is None, "the read was answered only once the wait was over"
    assert doing == board_mode(board)


def board_mode(board: programs.OnEmulatedBoard) -> str:
    return re.search(r"^MODE = '(\S+)'$", (board.board.flash / "main.py").read_text(), re.M)[1]


@pytest.mark.parametrize("board", ["idle"], indirect=True)
async def test_just_works_encrypts_without_authentication(board, air: Air):
    central = Central(air)
    connection = await central.connect(board.board.address)
    await within(connection.pair(), 10)
    await board.expect(r"IRQ 28 .*\n")
    [(_doing, data)] = irqs(board.output, 28)
    conn, encrypted, authenticated, bonded, key_size = eval(data)  # noqa: S307 (our own print)
    assert (encrypted, authenticated, bonded, key_size) == (1, 0, 0, 16)


class KeyboardDelegate(PairingDelegate):
    """A central that types the passkey the board shows."""

    def __init__(self) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY)

    async def get_number(self) -> int | None:
        return PASSKEY


@pytest.mark.parametrize("board", ["passkey"], indirect=True)
async def test_a_passkey_pairing_asks_the_program_and_authenticates(board, air: Air):
    central = Central(air)
    central.device.pairing_config_factory = lambda _c: PairingConfig(
        sc=True, mitm=True, bonding=False, delegate=KeyboardDelegate()
    )
    connection = await central.connect(board.board.address)
    await within(connection.pair(), 30)
    await board.expect(r"IRQ 28 .*\n")
    # _PASSKEY_ACTION_DISPLAY (3): the program chose the passkey and "showed" it.
    assert re.search(rf"^PASSKEY 3 {PASSKEY}$", board.output.replace("\r", ""), re.M)
    [(_doing, data)] = irqs(board.output, 28)
    assert eval(data)[1:3] == (1, 1)  # noqa: S307 (encrypted, authenticated)


@pytest.mark.parametrize("board", ["indicate"], indirect=True)
async def test_an_indication_is_confirmed_with_indicate_done(board, air: Air):
    connection = await Central(air).connect(board.board.address)
    peer = Peer(connection)
    await within(peer.discover_services(), 10)
    [characteristic] = await within(peer.discover_characteristics([CHAR]), 10)
    indicated: asyncio.Queue[bytes] = asyncio.Queue()
    await peer.subscribe(
        characteristic, lambda v: indicated.put_nowait(bytes(v)), prefer_notify=False
    )
    await characteristic.write_value(b"ping", with_response=True)
    assert await within(indicated.get(), 10) == b"ping"
    await board.expect(r"IRQ 20 .*\n")
    [(_doing, data)] = irqs(board.output, 20)
    assert eval(data)[2] == 0  # noqa: S307 (status: confirmed)


@pytest.mark.parametrize("board", ["mtu"], indirect=True)
async def test_the_peripheral_may_start_the_mtu_exchange(board, air: Air):
    central = Central(air)
    central.device.gatt_server.max_mtu = 150
    await central.connect(board.board.address)
    await board.expect(r"IRQ 21 .*\n")
    [(_doing, data)] = irqs(board.output, 21)
    assert eval(data)[1] == 150  # noqa: S307 (min(200, 150))


@pytest.mark.parametrize("board", ["append"], indirect=True)
async def test_an_appending_value_is_one_database_for_the_program_and_the_central(board, air: Air):
    """gatts_set_buffer(append=True): writes add up to the buffer's size; the
    program's gatts_read empties it, a central's read does not (NimBLE's one
    database, which both sides read)."""
    connection = await Central(air).connect(board.board.address)
    peer = Peer(connection)
    await within(peer.discover_services(), 10)
    [characteristic] = await within(peer.discover_characteristics([CHAR]), 10)
    for part in (b"ab", b"cd"):
        await within(characteristic.write_value(part, with_response=True), 10)
    await board.expect(r"READ .*\n")
    assert "READ b'abcd' b''" in board.output
    assert bytes(await within(characteristic.read_value(), 10)) == b""
    for part in (b"efgh", b"ijklmn"):  # 10 bytes into 8
        await within(characteristic.write_value(part, with_response=True), 10)
    assert bytes(await within(characteristic.read_value(), 10)) == b"efghijkl"
    assert board.output.count("READ ") == 1  # the program read once, at the second write


@pytest.mark.parametrize("board", ["slow_handler"], indirect=True)
async def test_ctrl_c_during_an_irq_handler_stops_the_program(board, air: Air):
    """Ctrl-C on the USB port interrupts the running program and gives the REPL
    (MicroPython's docs), also while an IRQ handler runs: the ESP32 port runs those
    in its BLE host task, which the interrupt does not reach. mpremote relies on it
    for every command."""
    connection = await Central(air).connect(board.board.address)
    peer = Peer(connection)
    await within(peer.discover_services(), 10)
    [characteristic] = await within(peer.discover_characteristics([CHAR]), 10)
    await characteristic.write_value(b"x", with_response=False)
    await board.expect(r"HANDLING")
    port = os.open(board.board.serial_port, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(port, b"\x03")
    finally:
        os.close(port)
    # Well before the program's own end (WAITED, then the REPL of `micropython -i`).
    await board.expect(r"KeyboardInterrupt[^>]*>>> ", timeout=5)
    assert "WAITED" not in board.output


@pytest.mark.parametrize("board", ["idle"], indirect=True)
async def test_irq_addresses_are_memoryviews_valid_during_the_call(board, air: Air):
    central = Central(air)
    connection = await central.connect(board.board.address)
    shown = await board.expect(r"ADDR .*\n")
    kind, address = shown.split()[1:3]
    assert kind == "memoryview"
    assert address == bytes(reversed(bytes(central.device.random_address))).hex()
    peer = Peer(connection)
    await within(peer.discover_services(), 10)
    [characteristic] = await within(peer.discover_characteristics([CHAR]), 10)
    await characteristic.write_value(b"x", with_response=True)
    kept = (await board.expect(r"KEPT .*\n")).split()[1]
    # The stack reused the buffer: a view kept past its IRQ no longer holds the
    # address (on a real board it holds whatever came next: undefined).
    assert kept != address


async def test_two_boards_one_central_one_peripheral(target: Target, tmp_path):
    """Both roles of the `bluetooth` module between two boards on one air, as
    MicroPython's multi_bluetooth tests run two instances; on a serial target, the
    two boards of --target serial:P1,P2 (the first the peripheral)."""
    air = Air()  # the emulated boards'; real boards have theirs
    async for server, peer in peripheral(target, tmp_path / "peripheral", air, "notify"):
        client = await programs.start(
            target, tmp_path / "central", air, programs.source("central.py", PEER=peer), board=1
        )
        try:
            await client.expect(r"(?m)^DONE\r?$|Traceback")
            lines = client.output.replace("\r", "")
            for wanted in (
                "ADV_TYPES [0, 4]",  # connectable advertising, and the scan response
                "CONNECTED 1 True",
                "SERVICES DONE 0",
                "CHARACTERISTICS DONE 0",
                "CHARACTERISTIC 58 True",  # READ|WRITE|NOTIFY|INDICATE; ends the service
                "DESCRIPTORS DONE 0",
                "DESCRIPTOR UUIDS [\"UUID('00000000-1111-2222-3333-666666666666')\", "
                "'UUID(0x2902)']",
                "IRQ 15 b'value'",
                "READ DONE 0",
                "WRITE DONE 0",
                "IRQ 18 b'central0'",  # the peripheral's notification of what we wrote
                "MTU 256",
                "DISCONNECT True",
                "DISCONNECTED True",
                "FAILED CONNECT (255, b'\\x00\\x00\\x00\\x00\\x00\\x00')",
                "DONE",
            ):
                assert wanted in lines, f"{wanted!r} not in the central's output:\n{lines}"
            await server.expect(r"IRQ 2 .*\n")  # the peripheral saw the central leave
        finally:
            await client.stop()
