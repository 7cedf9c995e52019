"""`msa decommission` against the emulated board over its pseudo-terminal, with the
real mpremote: the button is wiped and proven blank, its key and its phone's token
no longer reach anything, it is back in stock, and the case's file says so."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from hwtest.harness import Chain
from msa.backend.seed import DEMO_CASE
from msa.backend.store import open_store
from msa.demo.stack import run_msa_json
from msa.waiting import wait_until, within
from protocol import frame

pytestmark = [
    pytest.mark.hil,
    pytest.mark.emulated_only("this case reads the emulated board's flash to check the wipe"),
]


async def decommission(stack: Chain, device: str, *more: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msa.cli", "decommission", "--port", stack.board.serial_port,
        "--device-id", device, "--db", stack.database_url, *more,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await within(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_a_decommissioned_button_holds_nothing_and_its_credentials_are_dead(stack: Chain):
    device = stack.credentials["device_id"]
    alarm = await stack.press()  # the case has a history, which stays
    await stack.phone_away()
    old_key = bytes.fromhex(stack.credentials["key"])

    code, out, err = await decommission(stack, device, "--json")

    assert code == 0, err
    done = json.loads(out)
    assert (done["wiped"], done["keys_revoked"], done["tokens_revoked"]) == (True, 1, 1)
    assert (done["state"], done["case_reference"]) == ("stock", DEMO_CASE.reference)
    flash = stack.board.flash
    assert not (flash / "device.json").exists() and not (flash / "data").exists()
    assert "main.py" in done["left_on_board"]  # the firmware stays for the next case
    # The old key, with the phone's old token: the token reaches nothing now.
    late = frame.sign(old_key, frame.ALARM, int(device, 16), alarm.counter + 1,
                      frame.alarm_payload(0, 3000))  # fmt: skip
    answer = await stack.post_frame(late)
    assert answer.status_code == 401, answer.text
    district = DEMO_CASE.judicial_district
    [counts] = (
        await run_msa_json("inventory", "--district", district, "--db", stack.database_url)
    )["districts"]
    assert (counts["stock"], counts["assigned"]) == (1, 0)
    store = await open_store(stack.database_url)
    try:
        case = await store.find_case(DEMO_CASE.reference)
        assert case is not None
        trail = await store.audit_trail(case.case_id)
    finally:
        await store.close()
    assert "device.decommissioned" in [entry.action for entry in trail]
    assert (await stack.counts())["alarms"] == 1  # the history is the case's, kept

    # The same command again (a re-run after an interruption): nothing to do, no error.
    code, out, err = await decommission(stack, device, "--json")
    assert code == 0, err
    again = json.loads(out)
    assert (again["wiped"], again["done_now"]) == (False, False)

    # Powered up, the button says it is blank and keeps its radio off.
    await stack.board.power_cut()
    stack.board.console.clear()
    await stack.board.power_on()
    await stack.board.console.expect("msa: not provisioned; the radio stays off")


async def test_the_wrong_button_on_the_port_is_refused_and_nothing_changes(stack: Chain):
    other = await run_msa_json(
        "backend", "provision", "--case", DEMO_CASE.reference, "--device-id", "0badf00d",
        "--db", stack.database_url, "--kek-file", str(stack.kek_file),
    )  # fmt: skip
    assert other["epoch"] == 0
    before = await stack.counts()

    code, _, err = await decommission(stack, "0badf00d")

    assert code != 0
    assert f"is device {stack.credentials['device_id']}, not 0badf00d: nothing was wiped" in err
    assert (stack.board.flash / "device.json").exists()
    assert await stack.counts() == before
    code, _, err = await decommission(stack, "7eadbeef")
    assert code == 2 and "no device 7eadbeef in the backend" in err


async def test_the_test_alarm_is_armed_over_the_repl_for_the_test_call(stack: Chain):
    """`msa arm-test`: the firmware stops for the REPL, is rebooted, links with the
    phone again (which sets its clock), and the test gesture is a TEST ALARM."""
    await stack.settled()
    seen = max(counter for _, counter in stack.frames)  # the boot heartbeat's, at least
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msa.cli", "arm-test", "--port", stack.board.serial_port,
        "--minutes", "15", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await within(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert json.loads(out)["armed_until"].endswith("Z")
    assert (stack.board.flash / "data" / "test_armed").exists()
    # Rebooted into its firmware, which links with the phone again: the phone has
    # its new boot heartbeat once it has written TIME (the button's clock).
    await stack.board.console.expect(rb"(?:msa: firmware[\s\S]*){2}", 30)
    await wait_until(
        lambda: max(counter for _, counter in stack.frames) > seen, 30, "the phone linked again"
    )

    test = await stack.gesture(stack.board.test_gesture())

    assert test.kind == "test_alarm"
    for minutes, message in (("0", "--minutes is 1 to 1440"), ("x", "invalid int value")):
        refused = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "msa.cli", "arm-test", "--port", stack.board.serial_port,
            "--minutes", minutes, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, said = await within(refused.communicate(), 30)
        assert refused.returncode == 2 and message in said.decode()
