"""Re-provisioning mid-life (SPEC §4): the tech desk gives the button a new key, and
with it a new key epoch; the next real alarm reaches the console, its counter in the
new epoch, and no earlier counter is ever met again."""

from __future__ import annotations

import json

import pytest

from boards.emulated.emulator import EmulatedBoard
from hwtest.harness import Chain
from msa.demo.stack import run_msa_json

pytestmark = pytest.mark.hil


async def test_after_re_provisioning_the_next_real_alarm_reaches_the_console(stack: Chain):
    if not isinstance(stack.board, EmulatedBoard):
        pytest.skip("re-provisions through the emulated board's flash")
    board = stack.board
    before = [await stack.press() for _ in range(3)]
    assert all(alarm.counter >> 24 == 0 for alarm in before)
    await stack.settled()

    device = stack.credentials["device_id"]
    issued = await run_msa_json(
        "backend", "provision", *stack._backend_options,  # noqa: SLF001 (the stack's database)
        "--case", stack.credentials["case_reference"], "--device-id", device,
    )  # fmt: skip
    assert issued["epoch"] == 1 and issued["key"] != stack.credentials["key"]
    # The tech desk writes the new device.json; the phone gets the new epoch's token.
    settings = json.loads((board.flash / "device.json").read_text())
    board.provision({**settings, "key": issued["key"], "epoch": issued["epoch"]})
    stack.phone.forwarder.tokens = {0: stack.credentials["phone_token"], 1: issued["phone_token"]}
    await board.power_cut()
    await board.power_on()

    after = await stack.press()
    assert after.counter >> 24 == 1, "the button counts in its new epoch"
    assert after.counter > max(alarm.counter for alarm in before)
    await stack.settled()
    counts = await stack.counts()
    assert counts["alarms"] == 4, counts
