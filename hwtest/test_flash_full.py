"""The button's flash budget (protocol/SPEC.md §3.1, docs/firmware.md "The outbox"):
a flash filled to its last block still stores alarms and drops heartbeats, and
nothing crashes; a flash full of alarms no backend receipted keeps new presses in
memory and stores them once receipts make room. Then the phone is back and every
press is delivered, once (issue 10)."""

from __future__ import annotations

import asyncio

import pytest

from boards.emulated.emulator import littlefs
from firmware.outbox import counter_of
from hwtest.bench import needs
from hwtest.harness import Chain
from hwtest.phones import running, storing_phone
from hwtest.rows import alarm_frames, presses_delivered, wait_until
from protocol import frame

pytestmark = pytest.mark.hil

HOLD_MS = 80
GAP_S = 0.15


def waiting(stack: Chain, kind: int) -> list[str]:
    folder = needs(stack.board, "flash").flash / "data" / "outbox"
    return sorted(p.name for p in folder.iterdir() if int(p.name[9:11], 16) == kind)


async def fill_to(stack: Chain, free_blocks: int) -> None:
    await stack.phone_away()
    await stack.board.power_cut()
    needs(stack.board, "flash").fill_flash(free_blocks)
    stack.board.console.clear()
    await stack.board.power_on()
    await stack.board.console.expect("alarm on a")


def test_a_waiting_frame_is_inline_metadata_and_a_pair_holds_21():
    # The figure docs/firmware.md's budget rests on (rom/_flash.py's littlefs model).
    name, size = "0000000a-01", frame.MAX_FRAME
    per_frame = littlefs.entry_bytes(name, size, False)
    assert littlefs.data_blocks(size) == 0  # inline: no block of its own
    assert littlefs.PAIR_BYTES // per_frame == 21
    assert littlefs.pair_blocks(21 * per_frame) == 2
    assert littlefs.pair_blocks(22 * per_frame) == 4


@pytest.mark.provision(heartbeat_s=1)
async def test_a_flash_filled_to_the_last_block_keeps_alarms_drops_heartbeats(stack: Chain):
    await fill_to(stack, 0)
    assert needs(stack.board, "flash").free_blocks() == 0
    presses = 12
    for _ in range(presses):
        await stack.board.press(HOLD_MS)
        await asyncio.sleep(GAP_S)
    await stack.board.console.expect("heartbeats dropped")
    await asyncio.sleep(2.5)  # two more heartbeat times: none may be built
    assert waiting(stack, frame.HEARTBEAT) == []
    assert len(waiting(stack, frame.ALARM)) == 1  # one alarm of 12 presses
    log = stack.board.console.output
    assert b"msa: crash" not in log and b"Traceback" not in log

    await stack.phone_back()
    await wait_until(lambda: presses_delivered(stack) == presses, 30, "every press delivered")
    await wait_until(lambda: not waiting(stack, frame.ALARM), 30, "the alarm receipted")
    [alarm] = alarm_frames(stack)
    assert alarm.fields()["presses"] == presses
    assert b"Traceback" not in stack.board.console.output


@pytest.mark.provision(heartbeat_s=2)
async def test_a_flash_full_of_unreceipted_alarms_keeps_presses_in_memory(stack: Chain, tmp_path):
    # A phone that ACKs and never forwards: each press after an ACK is a new alarm.
    await fill_to(stack, 2)  # one more metadata pair
    device_id = stack.phone.device_id
    made = 0
    phone = storing_phone(stack, tmp_path / "storing")
    taken: set[int] = set()  # the alarms the phone stored (its ACK follows at once)
    phone.on_received = lambda got, _at: got.type == frame.ALARM and taken.add(got.counter)

    def newest() -> int:
        return max(map(counter_of, waiting(stack, frame.ALARM)), default=0)

    async with running(phone):
        while b"no room for a alarm frame" not in stack.board.console.output:
            before = newest()
            await asyncio.sleep(GAP_S)  # a finger lifts between presses
            await stack.board.press(HOLD_MS)
            made += 1
            # Stored and taken by the phone before the next press, which then
            # makes an alarm of its own.
            await wait_until(
                lambda before=before: (
                    (newest() > before and newest() in taken)
                    or b"no room" in stack.board.console.output
                ),
                10,
                lambda made=made: f"the alarm of press {made} taken by the phone",
            )
            assert made < 120, "the flash never filled"
        stored = len(waiting(stack, frame.ALARM))
        # The budget: what was left of the outbox's pair, then 21 a pair.
        assert stored >= 21
        for _ in range(3):  # no room: kept in memory as one alarm
            await asyncio.sleep(GAP_S)
            await stack.board.press(HOLD_MS)
            made += 1
        await stack.board.console.expect(r"(?:no room for a alarm frame[\s\S]*){4}")
        assert len(waiting(stack, frame.ALARM)) == stored
        assert b"msa: crash" not in stack.board.console.output

    await stack.phone_back()  # receipts make room: the presses in memory are stored
    await wait_until(
        lambda: presses_delivered(stack) == made,
        60,
        lambda: f"{made} presses delivered (the backend has {presses_delivered(stack)})",
    )
    counters = [f.counter for f in alarm_frames(stack)]
    assert len(counters) == len(set(counters)) == stored + 1
    assert all(f.device_id == device_id for f in alarm_frames(stack))
