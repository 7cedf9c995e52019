"""A button's whole life at the tech desk, against the emulated board over its
pseudo-terminal with the real mpremote, a real backend and the victim's phone
(the app link on Bumble): `msa provision` (cut off while it waits for the phone
and again while it waits for the CIC, and run again each time) → the phone bonded
→ the test alarm confirmed on the console, which starts support → a real alarm →
`msa decommission` → the board holds nothing and its old key is refused."""

from __future__ import annotations

import asyncio
import json

import pytest

from hwtest.desk import STEP_S, Desk, tech_desk
from msa.app.location import GHENT
from msa.backend.keys import load_kek
from msa.backend.store import open_store
from msa.waiting import cancelled, within
from protocol import frame

pytestmark = [
    pytest.mark.hil,
    pytest.mark.slow,
    pytest.mark.emulated_only("this case pairs a phone on the emulated air and reads the flash"),
]

DEVICE = "0badf00d"


@pytest.fixture
async def desk(tmp_path):
    async with tech_desk(tmp_path) as desk:
        yield desk


async def test_a_button_from_blank_to_a_persons_alarm_and_back(desk: Desk):
    board = desk.board
    wait = ("--wait-minutes", "2")

    # Cut off while it waits for the phone: nothing is bonded yet.
    first = await desk.provision(DEVICE, *wait)
    token = (await first.until(r"phone token (\S+)")).group(1)
    await first.until(r"\[5/6\].*\n.*pair the victim's phone")
    await first.killed()

    # Again: the same key, the token kept; the phone pairs; cut off at the CIC's step.
    second = await desk.provision(DEVICE, *wait)
    await second.until(r"key epoch 0 \(kept\)")
    await second.until(r"phone token: the one issued before")
    await second.until(r"pair the victim's phone")
    phone = desk.phone(DEVICE, token)
    await phone.pair()
    await second.until(r"      bonded\n")
    await second.until(r"\[6/6\]")
    await second.killed()

    # Again: bonded already; the phone relays, the test gesture, the CIC confirms.
    third = await desk.provision(DEVICE, *wait)
    await third.until(r"bonded already")
    await third.until(r"make the test gesture")
    relay = asyncio.create_task(phone.run())
    try:
        test = await desk.test_call(phone)
        assert test["device_id"] == DEVICE
        assert "confirmed: support has started" in await third.finished()
        on_board = json.loads((board.flash / "device.json").read_text())
        store = await open_store(desk.db, load_kek(desk.kek))
        try:  # three runs, one key: epoch 0, the board's
            assert await store.active_key(int(DEVICE, 16)) == (0, bytes.fromhex(on_board["key"]), 1)
        finally:
            await store.close()

        # The button in service: a real alarm reaches the console.
        shown = desk.console.next_alarm()
        await board.press()
        alarm = await within(shown, STEP_S)
        assert (alarm["test"], alarm["device_id"]) == (False, DEVICE)
        assert alarm["case"]["support_started_on"] is not None
    finally:
        await cancelled(relay)
        await phone.link.close()

    # Back from the victim: wiped, proven blank, its key and token dead, in stock.
    done = await desk.decommission(DEVICE)
    assert done["state"] == "stock"
    assert not (board.flash / "device.json").exists() and not (board.flash / "data").exists()
    late = frame.sign(bytes.fromhex(on_board["key"]), frame.ALARM, int(DEVICE, 16),
                      alarm["counter"] + 1, frame.alarm_payload(0, 3000))  # fmt: skip
    answer = await phone.forwarder.post(late, 0.0, GHENT.current())
    assert answer.status_code == 401, answer.text
    await phone.forwarder.close()
