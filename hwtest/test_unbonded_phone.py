"""Only the bonded phone may use the button: a stranger's phone on the same air is
dropped and never gets a frame, and the bonded phone still gets its alarms."""

from __future__ import annotations

import contextlib
import json

import pytest

from boards.emulated.board import UNBONDED_GRACE_MS
from hwtest.bench import needs
from hwtest.harness import Chain
from hwtest.phones import firmware_version
from hwtest.scanner import Scanner
from msa.app.bumble_link import BumbleLink
from msa.app.link import LinkError
from msa.waiting import within

pytestmark = pytest.mark.hil

# The grace is timed on the board's clock (the firmware says after how long it
# dropped a link); the host's bound only ends the test if the board never does.
DROPPED_WITHIN_S = 30.0


async def _stranger_near(stack: Chain, folder) -> BumbleLink:
    """A suspect's phone: it scans, and picks the one advertiser on this air."""
    scanner = Scanner(stack.air)
    await scanner.start()
    (report,) = (await scanner.advertisements(count=1))[-1:]
    return BumbleLink(report.address.to_string(False), folder, local_link=stack.air)


async def test_an_unbonded_phone_is_refused_and_the_bonded_one_still_gets_alarms(
    stack: Chain, tmp_path
):
    await stack.phone_away()
    needs(stack.board, "air").set_rpa_timeout(900)  # an address that holds still for the stranger
    stack.board.console.clear()
    await stack.board.press()
    counter = int((await stack.board.console.expect(rb"queued alarm (\d+)")).group(1))
    frames: list[bytes] = []

    # A stranger that connects and only listens is dropped after the grace time.
    idle = await _stranger_near(stack, tmp_path / "idle")
    await idle.connect()
    await within(idle.disconnected.wait(), DROPPED_WITHIN_S)
    await idle.close()
    said = await stack.board.console.expect(rb"not the bonded phone's, after (\d+) ms")
    assert UNBONDED_GRACE_MS <= int(said.group(1)) < UNBONDED_GRACE_MS + 3000

    # A stranger that pairs gets an encrypted link, but no bond and no access.
    pairing = await _stranger_near(stack, tmp_path / "pairing")
    await pairing.connect()
    await pairing.pair()
    # The board drops a stranger's link as soon as pairing ends: on a busy machine
    # before the subscription is through, which must fail then, never get a frame.
    with contextlib.suppress(LinkError):
        await pairing.subscribe(frames.append)
    with pytest.raises(LinkError):
        await pairing.read()
    with pytest.raises(LinkError):
        await pairing.device_info()
    await within(pairing.disconnected.wait(), DROPPED_WITHIN_S)
    await pairing.close()
    # The board said so before it dropped the link; its console reaches us later.
    await stack.board.console.expect(rb"(?:not the bonded phone's, after \d+ ms[\s\S]*){2}")

    assert frames == []
    assert stack.board.console.output.count(b"not the bonded phone") == 2
    bonds = json.loads((needs(stack.board, "flash").flash / "data" / "bonds.json").read_text())
    assert len(bonds) == 1, "the button keeps exactly one bond"

    seen = stack.console.next_alarm()
    await stack.phone_back()
    assert (await seen)["counter"] == counter
    assert (await stack.press()).kind == "alarm"


async def test_the_bonded_phone_reads_firmware_version_and_board(stack: Chain):
    info = await stack.phone.link.device_info()
    assert info.firmware_revision == firmware_version()
    assert info.model_number == "emulated"
