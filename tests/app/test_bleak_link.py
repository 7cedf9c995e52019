"""The bleak backend of the app link, against a stand-in for bleak's BleakClient.

There is no Bluetooth adapter here; on a bench the same code runs on BlueZ. The
stand-in records what the link asked of bleak and answers as bleak does.
"""

import pytest
from bleak.exc import BleakError

from msa.app.bleak_link import BleakLink
from msa.app.link import DeviceInfo, LinkError, open_link, sig_uuid
from protocol import frame, gatt


class FakeCharacteristic:
    uuid = gatt.FRAME_UUID


class FakeServices:
    def __init__(self, has_frame=True):
        self.has_frame = has_frame

    def get_characteristic(self, uuid):
        return FakeCharacteristic() if self.has_frame and uuid == gatt.FRAME_UUID else None


class FakeBleakClient:
    """Answers like bleak.BleakClient; `fail` names a method that raises BleakError."""

    instances: list["FakeBleakClient"] = []

    def __init__(self, address, disconnected_callback=None, fail=None, **options):
        self.address = address
        self.options = options
        self.on_disconnect = disconnected_callback
        self.is_connected = False
        self.mtu_size = 247
        self.services = FakeServices()
        self.calls = []
        self.fail = fail
        self.value = b""
        FakeBleakClient.instances.append(self)

    def _call(self, name, *args):
        self.calls.append((name, *args))
        if self.fail == name:
            raise BleakError(f"{name} failed")

    async def connect(self):
        self._call("connect")
        self.is_connected = True

    async def pair(self):
        self._call("pair")

    async def start_notify(self, characteristic, callback):
        self._call("start_notify", characteristic.uuid)
        self.notify = callback

    async def write_gatt_char(self, uuid, data, response):
        self._call("write_gatt_char", uuid, bytes(data), response)

    async def read_gatt_char(self, uuid):
        self._call("read_gatt_char", uuid)
        return bytearray(self.value)

    async def disconnect(self):
        self._call("disconnect")
        self.is_connected = False
        self.on_disconnect(self)


@pytest.fixture
def link():
    FakeBleakClient.instances.clear()
    return BleakLink("AA:BB:CC:DD:EE:FF", adapter="hci1", client_factory=FakeBleakClient)


async def test_open_link_chooses_bleak_for_a_real_board(tmp_path):
    assert isinstance(open_link("bleak", "AA:BB:CC:DD:EE:FF", tmp_path), BleakLink)
    assert open_link("bleak:hci1", "AA:BB:CC:DD:EE:FF", tmp_path).adapter == "hci1"


async def test_the_link_is_what_the_phone_needs_from_bleak(link):
    frames = []
    await link.connect(timeout=3)
    client = FakeBleakClient.instances[0]
    assert client.options == {"timeout": 3, "bluez": {"adapter": "hci1"}}
    assert link.connected

    await link.pair()
    await link.subscribe(frames.append)
    client.notify(FakeCharacteristic(), bytearray(b"\x01\x02"))
    ack = frame.control(frame.ACK, 7, 9)
    await link.write(ack)
    client.value = b"\x01"
    assert await link.read() == b"\x01"
    await link.disconnect()

    assert frames == [b"\x01\x02"]
    assert link.mtu == 247
    assert client.calls == [
        ("connect",),
        ("pair",),
        ("start_notify", gatt.FRAME_UUID),
        ("write_gatt_char", gatt.FRAME_UUID, ack, True),
        ("read_gatt_char", gatt.FRAME_UUID),
        ("disconnect",),
    ]
    assert not link.connected


@pytest.mark.parametrize("method", ["connect", "pair", "write_gatt_char", "read_gatt_char"])
async def test_bleak_errors_become_link_errors(method):
    def failing_client(*args, **kwargs):
        return FakeBleakClient(*args, fail=method, **kwargs)

    link = BleakLink("AA:BB:CC:DD:EE:FF", client_factory=failing_client)
    with pytest.raises(LinkError, match="failed|could not connect"):
        await link.connect()
        await link.pair()
        await link.write(b"x")
        await link.read()
    assert FakeBleakClient.instances[-1].calls[-1][0] == method


async def test_a_failed_connect_tells_what_to_check():
    link = BleakLink(
        "AA:BB:CC:DD:EE:FF",
        client_factory=lambda *a, **k: FakeBleakClient(*a, fail="connect", **k),
    )
    with pytest.raises(LinkError, match="is it advertising.*bluetoothctl show"):
        await link.connect()
    assert not link.connected


async def test_a_device_without_the_frame_characteristic_is_refused(link):
    await link.connect()
    FakeBleakClient.instances[0].services = FakeServices(has_frame=False)
    with pytest.raises(LinkError, match="no msa Frame characteristic"):
        await link.subscribe(lambda data: None)


async def test_using_the_link_before_connecting_says_so(link):
    with pytest.raises(LinkError, match="not connected"):
        await link.write(b"x")


class InfoClient(FakeBleakClient):
    """Serves the Device Information characteristics by UUID."""

    values = {sig_uuid(0x2A26): b"0.1.0", sig_uuid(0x2A24): b"esp32c3"}

    async def read_gatt_char(self, uuid):
        self._call("read_gatt_char", uuid)
        return bytearray(self.values[uuid])


async def test_device_info_reads_firmware_revision_and_model_number():
    link = BleakLink("AA:BB:CC:DD:EE:FF", client_factory=InfoClient)
    await link.connect()
    info = await link.device_info()
    assert info == DeviceInfo(firmware_revision="0.1.0", model_number="esp32c3")
    reads = [c[1] for c in link.client.calls if c[0] == "read_gatt_char"]
    assert reads == [
        "00002a26-0000-1000-8000-00805f9b34fb",
        "00002a24-0000-1000-8000-00805f9b34fb",
    ]


async def test_device_info_refused_says_to_check_the_bond():
    link = BleakLink(
        "AA:BB:CC:DD:EE:FF",
        client_factory=lambda *a, **k: FakeBleakClient(*a, fail="read_gatt_char", **k),
    )
    await link.connect()
    with pytest.raises(LinkError, match="bonded"):
        await link.device_info()
