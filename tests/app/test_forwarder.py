"""The phone's forwarder against the real backend: retried until acknowledged,
a refusal kept as rejected, never silently dropped."""

import asyncio
import time

import httpx
import pytest

from msa.app.forwarder import Forwarder
from msa.app.outbox import Outbox
from msa.backend.process import BackendProcess
from msa.demo.stack import run_msa_json
from msa.waiting import within
from protocol import frame


@pytest.fixture
async def seeded(tmp_path, kek_file):
    url = f"sqlite:///{tmp_path / 'backend.db'}"
    credentials = await run_msa_json(
        "backend", "seed-demo", "--db", url, "--kek-file", str(kek_file)
    )
    return url, credentials


SEEDED = {"key": "11" * 32, "device_id": "00c0ffee"}


def alarm(credentials, counter, key=None):
    key = key or bytes.fromhex(credentials["key"])
    device = int(credentials["device_id"], 16)
    return frame.parse(frame.sign(key, frame.ALARM, device, counter, frame.alarm_payload(0, 3000)))


async def test_frames_wait_while_the_backend_is_down_and_go_when_it_returns(
    seeded, tmp_path, kek_file
):
    url, credentials = seeded
    backend = BackendProcess(url, tmp_path / "backend.log", kek_file)
    address = await backend.start()  # learn a free port, then take the backend away
    port = int(address.rsplit(":", 1)[1])
    await backend.stop()

    outbox = Outbox(tmp_path / "phone.db")
    outbox.put(alarm(credentials, 1), None)
    forwarder = Forwarder(outbox, address, credentials["phone_token"])
    [entry] = outbox.pending()
    assert not await forwarder.send(entry)
    [entry] = outbox.pending()
    assert entry.attempts == 1

    delivered = asyncio.Event()
    forwarder.on_delivered = lambda entry, answer: delivered.set()
    running = asyncio.create_task(forwarder.run())
    backend = BackendProcess(url, tmp_path / "backend2.log", kek_file, port=port)
    try:
        await backend.start()
        await within(delivered.wait(), 60)
    finally:
        running.cancel()
        await backend.stop()
        await forwarder.close()
    assert outbox.count("pending") == 0


async def test_a_node_that_does_not_answer_hands_the_frame_to_the_next_at_once(
    seeded, tmp_path, kek_file
):
    url, credentials = seeded
    dead = BackendProcess(url, tmp_path / "dead.log", kek_file)
    dead_url = await dead.start()  # a free port, then nobody there
    await dead.stop()
    backend = BackendProcess(url, tmp_path / "backend.log", kek_file)
    live_url = await backend.start()
    outbox = Outbox(tmp_path / "phone.db")
    forwarder = Forwarder(outbox, [dead_url, live_url], credentials["phone_token"])
    try:
        outbox.put(alarm(credentials, 1), None)
        [entry] = outbox.pending()
        assert await forwarder.send(entry)  # one send: the dead node, then the live one
        assert forwarder.base_url == live_url and outbox.count("pending") == 0
        await backend.stop()

        outbox.put(alarm(credentials, 2), None)
        [entry] = outbox.pending()
        assert not await forwarder.send(entry)  # every node tried once, then a back-off
        [entry] = outbox.pending()
        assert entry.attempts == 1
    finally:
        await backend.stop()
        await forwarder.close()


async def test_a_refused_frame_is_kept_as_rejected_and_not_retried(seeded, tmp_path, kek_file):
    url, credentials = seeded
    backend = BackendProcess(url, tmp_path / "backend.log", kek_file)
    address = await backend.start()
    outbox = Outbox(tmp_path / "phone.db")
    outbox.put(alarm(credentials, 1, key=bytes(32)), None)
    outbox.put(alarm(credentials, 2), None)
    forwarder = Forwarder(outbox, address, credentials["phone_token"])
    try:
        for entry in outbox.pending():
            assert await forwarder.send(entry)  # settled: rejected, delivered
    finally:
        await backend.stop()
        await forwarder.close()
    assert outbox.count("pending") == 0
    # The delivered one waits, with the backend's receipt, for the button.
    key = bytes.fromhex(credentials["key"])
    expected = frame.receipt(key, alarm(credentials, 2).mac)
    assert outbox.receipts(int(credentials["device_id"], 16)) == [(2, expected)]
    [(_, counter, reason)] = outbox.rejections()
    assert counter == 1 and reason.startswith("422 bad_mac")


def answering(status: int, body: dict) -> httpx.AsyncClient:
    """A client whose backend always gives this answer (httpx's own mock transport)."""
    return httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(status, json=body))
    )


async def test_a_frame_newer_than_the_backend_is_kept_and_tried_much_later(tmp_path):
    outbox = Outbox(tmp_path / "phone.db")
    outbox.put(alarm(SEEDED, 1), None)
    refusal = {"error": "unsupported_version", "detail": "Frame version 2 is newer."}
    forwarder = Forwarder(outbox, "http://backend", "t", answering(501, refusal))
    [entry] = outbox.pending()
    try:
        assert await forwarder.send(entry)  # settled for now: the frames behind it go on
    finally:
        await forwarder.close()
    assert outbox.rejections() == [] and outbox.count("pending") == 1
    assert outbox.pending() == []  # not before its time
    due = outbox.next_retry()
    assert due is not None and due - time.time() > 30
    [later] = outbox.pending(now=due)
    assert later.attempts == 1


async def test_a_200_keeps_the_frame_with_its_receipt_for_the_button(tmp_path):
    outbox = Outbox(tmp_path / "phone.db")
    outbox.put(alarm(SEEDED, 1), None)
    receipt = bytes(range(16))
    answer = {"status": "committed", "receipt": receipt.hex()}
    forwarder = Forwarder(outbox, "http://backend", "t", answering(200, answer))
    [entry] = outbox.pending()
    try:
        assert await forwarder.send(entry)
    finally:
        await forwarder.close()
    assert outbox.count("pending") == 0
    assert outbox.receipts(entry.device_id) == [(1, receipt)]


async def test_each_frame_goes_with_the_token_of_its_key_epoch(tmp_path):
    outbox = Outbox(tmp_path / "phone.db")
    outbox.put(alarm(SEEDED, 5), None)  # epoch 0, from before a re-provisioning
    outbox.put(alarm(SEEDED, 1 << 24 | 1), None)  # epoch 1
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"status": "committed", "receipt": "00" * 16})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    forwarder = Forwarder(outbox, "http://backend", {0: "old", 1: "new"}, client)
    try:
        for entry in outbox.pending():
            assert await forwarder.send(entry)
    finally:
        await forwarder.close()
    assert seen == ["Bearer old", "Bearer new"]


async def test_a_frame_of_an_epoch_without_its_token_is_kept_not_rejected(tmp_path):
    outbox = Outbox(tmp_path / "phone.db")
    outbox.put(alarm(SEEDED, 5), None)
    refusal = {"error": "wrong_epoch", "detail": "send it with the token of its epoch"}
    forwarder = Forwarder(outbox, "http://backend", {1: "new"}, answering(403, refusal))
    [entry] = outbox.pending()
    try:
        assert await forwarder.send(entry)
    finally:
        await forwarder.close()
    assert outbox.rejections() == [] and outbox.count("pending") == 1
