"""End-to-end receipts (protocol/SPEC.md §1, §5.1, §6): the button forgets a frame
only on the backend's receipt, which the phone cannot make. A phone that stores
and ACKs but never forwards cannot make the button forget an alarm; the button
says so in its heartbeats and delivers the alarm once an honest phone is back. A
forged or replayed receipt is ignored (issue 10)."""

from __future__ import annotations

import pytest

from hwtest.bench import needs
from hwtest.harness import Chain
from hwtest.phones import running, storing_phone
from hwtest.rows import alarm_frames, wait_until
from msa.app.outbox import Outbox
from protocol import frame

pytestmark = pytest.mark.hil


def waiting_frames(stack: Chain) -> list[str]:
    return sorted(p.name for p in (needs(stack.board, "flash").flash / "data" / "outbox").iterdir())


def heartbeats(outbox: Outbox, device_id: int) -> list[dict]:
    """The heartbeats a phone stored, decoded, oldest first."""
    rows = outbox.db.execute(
        "SELECT data FROM outbox WHERE device_id = ? AND type = ? ORDER BY counter",
        (device_id, frame.HEARTBEAT),
    ).fetchall()
    return [frame.parse(bytes(data)).fields() for (data,) in rows]


@pytest.mark.provision(heartbeat_s=1, unreceipted_s=2)
async def test_a_phone_that_acks_and_never_forwards_cannot_make_the_button_forget(
    stack: Chain, tmp_path
):
    await stack.phone_away()
    device_id = stack.phone.device_id
    async with running(storing_phone(stack, tmp_path / "storing")) as storing:
        stack.board.console.clear()
        await stack.board.press()
        counter = int((await stack.board.console.expect(rb"queued alarm (\d+)")).group(1))
        await wait_until(
            lambda: storing.outbox.holds(device_id, counter),
            10,
            "the storing phone has the alarm (and ACKed it)",
        )
        # The button keeps it, and its heartbeats say so: waiting, then unreceipted.
        await wait_until(
            lambda: any(
                hb["waiting_alarms"] and hb["flags"] & frame.UNRECEIPTED
                for hb in heartbeats(storing.outbox, device_id)
            ),
            20,
            lambda: f"a heartbeat saying so (got {heartbeats(storing.outbox, device_id)})",
        )
        assert frame.ALARM in {int(n[9:], 16) for n in waiting_frames(stack)}
        assert f"{counter:08x}-01" in waiting_frames(stack)
        assert (await stack.counts())["alarms"] == 0

    seen = stack.console.next_alarm()
    await stack.phone_back()  # the honest phone: a new link, everything offered again
    assert (await seen)["counter"] == counter
    await stack.settled()
    assert f"{counter:08x}-01" not in waiting_frames(stack)  # forgotten on the receipt
    assert [f.counter for f in alarm_frames(stack)] == [counter]


async def test_a_forged_or_replayed_receipt_is_ignored(stack: Chain, tmp_path):
    await stack.phone_away()
    device_id = stack.phone.device_id
    key = bytes.fromhex(stack.credentials["key"])
    write = stack.phone.link.write
    async with running(storing_phone(stack, tmp_path / "storing")) as storing:
        stack.board.console.clear()
        await stack.board.press()
        counter = int((await stack.board.console.expect(rb"queued alarm (\d+)")).group(1))
        await wait_until(lambda: storing.outbox.holds(device_id, counter), 10, "stored")
        outbox = needs(stack.board, "flash").flash / "data" / "outbox"
        held = (outbox / f"{counter:08x}-01").read_bytes()

        # A phone has no key: whatever it makes is not the backend's receipt.
        for forged in (bytes(16), frame.receipt(bytes(32), held[-16:]), held[-16:]):
            await write(frame.control(frame.RECEIPT, device_id, counter, forged))
            await stack.board.console.expect(f"receipt for frame {counter}: not the backend's")
        # The backend's receipt, but for another frame under this counter.
        other = frame.sign(key, frame.ALARM, device_id, counter, frame.encode(frame.ALARM, 0, 1))
        await write(
            frame.control(frame.RECEIPT, device_id, counter, frame.receipt(key, other[-16:]))
        )
        await stack.board.console.expect(f"receipt for frame {counter}: not the backend's")
        assert f"{counter:08x}-01" in waiting_frames(stack)

    await stack.phone_back()
    await stack.settled()
    assert f"{counter:08x}-01" not in waiting_frames(stack)
    # The real receipt again, for a frame already forgotten: a replay changes nothing.
    before = waiting_frames(stack)
    await write(frame.control(frame.RECEIPT, device_id, counter, frame.receipt(key, held[-16:])))
    await stack.board.console.expect(f"receipt for frame {counter}: not waiting")
    assert waiting_frames(stack) == before
    assert [f.counter for f in alarm_frames(stack)] == [counter]
