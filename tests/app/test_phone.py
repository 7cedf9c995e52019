"""The phone's side of receipts (protocol/SPEC.md §1, §6): the ACK when a frame is
stored, the backend's receipt written to the button when linked, and the frame
deleted only once the receipt is written; a frame offered again gets both again."""

from __future__ import annotations

import asyncio
import json

import httpx

from msa.app.forwarder import Forwarder
from msa.app.link import ButtonLink, DeviceInfo, FrameHandler, LinkError
from msa.app.outbox import Outbox
from msa.app.phone import Phone
from msa.waiting import cancelled, wait_until, within
from protocol import frame

KEY = bytes(range(32))
DEVICE = 0x00C0FFEE


class FakeLink(ButtonLink):
    """A link that records the control frames written to the button."""

    def __init__(self) -> None:
        super().__init__("AA:BB:CC:DD:EE:FF")
        self.written: list[frame.Frame] = []
        self.broken = False

    async def connect(self, timeout: float = 10.0) -> None:
        self.disconnected.clear()

    async def pair(self) -> None: ...

    async def secure(self) -> None: ...

    async def subscribe(self, on_frame: FrameHandler) -> None: ...

    async def write(self, data: bytes) -> None:
        if self.broken:
            raise LinkError("the link dropped")
        self.written.append(frame.parse(data))

    async def read(self) -> bytes:
        return b""

    async def device_info(self) -> DeviceInfo:
        return DeviceInfo("0", "fake")

    async def disconnect(self) -> None:
        self.disconnected.set()

    def sent(self) -> list[tuple[str, int]]:
        return [(f.name, f.counter) for f in self.written if f.type != frame.TIME]


def alarm(counter: int) -> bytes:
    return frame.sign(KEY, frame.ALARM, DEVICE, counter, frame.alarm_payload(0, 3000))


def receipt_of(data: bytes) -> bytes:
    return frame.receipt(KEY, frame.parse(data).mac)


def backend(answers: list[int]) -> httpx.AsyncClient:
    """A backend that commits every frame and answers with its receipt."""

    def answer(request: httpx.Request) -> httpx.Response:
        data = bytes.fromhex(json.loads(request.read())["frame"])
        answers.append(frame.parse(data).counter)
        return httpx.Response(200, json={"status": "committed", "receipt": receipt_of(data).hex()})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def a_phone(tmp_path, answers: list[int]) -> tuple[Phone, FakeLink]:
    link = FakeLink()
    outbox = Outbox(tmp_path / "outbox.db")
    forwarder = Forwarder(outbox, "http://backend", "token", backend(answers))
    return Phone(link, outbox, forwarder, DEVICE), link


async def test_the_receipt_reaches_the_button_and_only_then_the_frame_leaves(tmp_path):
    answers: list[int] = []
    phone, link = await a_phone(tmp_path, answers)
    running = asyncio.create_task(phone.run())
    try:
        await within(phone.linked.wait(), 5)
        await phone.accept(alarm(1), 0.0)
        await wait_until(lambda: ("receipt", 1) in link.sent(), 5, "the receipt written")
        assert link.sent() == [("ack", 1), ("receipt", 1)]
        assert link.written[-1].payload == receipt_of(alarm(1))
        assert answers == [1] and not phone.outbox.holds(DEVICE, 1)
    finally:
        await cancelled(running)
        await phone.forwarder.close()


async def test_a_receipt_not_written_keeps_the_frame_for_the_next_link(tmp_path):
    answers: list[int] = []
    phone, link = await a_phone(tmp_path, answers)
    await phone.accept(alarm(1), 0.0)
    [entry] = phone.outbox.pending()
    link.broken = True  # the link drops right after the ACK
    assert await phone.forwarder.send(entry)
    assert not await phone._write_receipt(1, receipt_of(alarm(1)))
    assert phone.outbox.receipts(DEVICE) == [(1, receipt_of(alarm(1)))]

    link.broken = False  # the next link: the phone's link-up writes what waits
    running = asyncio.create_task(phone.run())
    try:
        await wait_until(
            lambda: not phone.outbox.holds(DEVICE, 1), 5, "the receipt written on link-up"
        )
        assert link.sent()[-1] == ("receipt", 1)
        assert answers == [1]  # forwarded once
    finally:
        await cancelled(running)
        await phone.forwarder.close()


async def test_a_frame_offered_again_gets_its_ack_and_its_receipt_and_is_stored_once(tmp_path):
    answers: list[int] = []
    phone, link = await a_phone(tmp_path, answers)
    link.disconnected.clear()
    phone.linked.set()
    await phone.accept(alarm(1), 0.0)
    [entry] = phone.outbox.pending()
    assert await phone.forwarder.send(entry)  # delivered while the button was away
    phone.outbox.put(frame.parse(alarm(2)), None)  # another, still pending
    link.written.clear()

    await phone.accept(alarm(1), 1.0)  # the button offers both again (a new link)
    await phone.accept(alarm(2), 1.0)
    assert link.sent() == [("ack", 1), ("receipt", 1), ("ack", 2)]
    assert not phone.outbox.holds(DEVICE, 1)
    assert [e.counter for e in phone.outbox.pending()] == [2]
    assert answers == [1]
    await phone.forwarder.close()


class StubbornLink(FakeLink):
    """A link whose connect swallows one cancellation, as a Bumble call under 3.11's
    wait_for does when its answer arrives with the cancel (gh-86296)."""

    def __init__(self) -> None:
        super().__init__()
        self.connecting = asyncio.Event()
        self.swallowed = 0

    async def connect(self, timeout: float = 10.0) -> None:
        self.disconnected.set()  # never links: the phone keeps trying
        self.connecting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed += 1  # and carries on, as if the answer had come
        raise LinkError("the button answered late")


async def test_a_phone_cancelled_while_a_link_call_swallows_it_still_stops(tmp_path):
    phone, _ = await a_phone(tmp_path, [])
    phone.link = link = StubbornLink()
    running = asyncio.create_task(phone.run())
    await within(link.connecting.wait(), 5)
    await within(cancelled(running), 5)
    assert link.swallowed == 1 and running.done()
    await phone.forwarder.close()
