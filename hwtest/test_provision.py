"""`msa provision` against the emulated board's pseudo-terminal with the real
mpremote: a blank button with its firmware becomes a person's alarm; the same
command run again after an interruption finishes with the same key; another
button, a board without firmware and bad settings are refused before anything."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from boards.emulated.air import Air
from boards.emulated.emulator import EmulatedBoard
from msa.backend.auth import hash_token
from msa.backend.keys import load_kek
from msa.backend.store import open_store
from msa.demo.stack import run_msa_json
from msa.waiting import within

pytestmark = [
    pytest.mark.hil,
    pytest.mark.emulated_only("this case reads the emulated board's flash for what was written"),
]

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "case.json"
REFERENCE = json.loads(EXAMPLE.read_text())["reference"]


@pytest.fixture
async def blank(tmp_path):
    """A button with its firmware and nothing else, powered, on its own air."""
    board = EmulatedBoard(tmp_path / "board", Air())
    board.flash_firmware()
    await board.power_on()
    await board.console.expect("not provisioned")
    yield board
    await board.close()


@pytest.fixture
async def backend(tmp_path):
    """A database with the guide's example case, and its KEK."""
    db, kek = f"sqlite:///{tmp_path}/msa.db", tmp_path / "kek"
    await run_msa_json("backend", "kek-new", str(kek))
    await run_msa_json("backend", "case-add", str(EXAMPLE), "--db", db)
    return db, kek


async def provision(board: EmulatedBoard, backend, *more: str) -> tuple[int, str, str]:
    """`msa provision` up to the key on the board (the phone's steps: test_lifecycle.py)."""
    db, kek = backend
    if "--until" not in more:
        more = (*more, "--until", "board")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msa.cli", "provision", "--port", board.serial_port,
        "--case", REFERENCE, "--db", db, "--kek-file", str(kek), *more,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await within(process.communicate(), 90)
    return process.returncode, out.decode(), err.decode()


async def rows(db: str) -> dict[str, int]:
    store = await open_store(db)
    try:
        return await store.counts()
    finally:
        await store.close()


async def test_a_blank_button_becomes_a_persons_alarm_and_a_rerun_keeps_its_key(
    blank: EmulatedBoard, backend, tmp_path
):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"pattern": "multi", "presses": 3, "window_ms": 3000}))
    args = ("--device-id", "0badf00d", "--person", "2", "--settings", str(settings))

    code, out, err = await provision(blank, backend, *args, "--json")

    assert code == 0, err
    done = json.loads(out)
    assert (done["epoch"], done["new_key"], done["firmware"]) == (0, True, "0.3.0")
    written = json.loads((blank.flash / "device.json").read_text())
    assert written["device_id"] == 0x0BADF00D and written["pattern"] == "multi"
    await blank.console.expect("msa: firmware 0.3.0 on emulated device 0badf00d")
    # The key on the button is the backend's (which keeps it wrapped under the KEK).
    store = await open_store(backend[0], load_kek(backend[1]))
    try:
        assert await store.active_key(0x0BADF00D) == (0, bytes.fromhex(written["key"]), 2)
    finally:
        await store.close()

    # Interrupted after the backend step (the board lost its device.json): the same
    # command finishes it with the same key and epoch, and a fresh phone token.
    (blank.flash / "device.json").unlink()
    code, out, err = await provision(blank, backend, *args, "--json")
    assert code == 0, err
    again = json.loads(out)
    assert (again["epoch"], again["new_key"]) == (0, False)
    assert again["phone_token"] is None  # the app may hold the first run's: it stays
    assert json.loads((blank.flash / "device.json").read_text())["key"] == written["key"]
    counts = await rows(backend[0])
    assert (counts["devices"], counts["phones"]) == (1, 1)
    # The token shown was lost: --new-token issues another, and only that one works.
    code, out, err = await provision(blank, backend, *args, "--json", "--new-token")
    assert code == 0, err
    token = json.loads(out)["phone_token"]
    assert token not in (None, done["phone_token"])
    store = await open_store(backend[0])
    try:
        assert await store.phone_by_token(hash_token(done["phone_token"])) is None
        assert await store.phone_by_token(hash_token(token)) is not None
    finally:
        await store.close()


async def test_another_button_no_firmware_or_bad_settings_are_refused_first(
    blank: EmulatedBoard, backend, tmp_path
):
    before = await rows(backend[0])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"pattern": "morse"}))
    code, _, err = await provision(
        blank, backend, "--device-id", "0badf00d", "--settings", str(bad)
    )
    assert code == 2 and "pattern" in err
    blank.provision({"device_id": 0x0C0FFEE0, "key": "11" * 32})  # another button's file
    code, _, err = await provision(blank, backend, "--device-id", "0badf00d")
    assert code == 2 and "is device 0c0ffee0, not 0badf00d: msa decommission it first" in err
    for path in blank.flash.rglob("app.py"):
        path.unlink()  # the firmware gone
    (blank.flash / "device.json").unlink()
    code, _, err = await provision(blank, backend, "--device-id", "0badf00d")
    assert code == 2 and "has no msa firmware: run again with --board BOARD" in err
    assert await rows(backend[0]) == before


async def test_a_rotation_gives_the_next_epoch_and_keeps_the_bond_and_the_queue(
    blank: EmulatedBoard, backend, tmp_path
):
    args = ("--device-id", "0badf00d", "--json")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"pattern": "long", "hold_ms": 2000}))
    code, out, err = await provision(blank, backend, *args, "--settings", str(settings))
    assert code == 0, err
    first = json.loads((blank.flash / "device.json").read_text())
    await blank.console.expect("queued heartbeat")  # the firmware runs: data/ is its
    kept = sorted(p.name for p in (blank.flash / "data").rglob("*"))
    assert kept  # its counter, its queued heartbeat

    code, out, err = await provision(blank, backend, *args, "--rotate")

    assert code == 0, err
    rotated = json.loads(out)
    assert (rotated["epoch"], rotated["rotated"]) == (1, True)
    now = json.loads((blank.flash / "device.json").read_text())
    assert now["epoch"] == 1 and now["key"] != first["key"]
    assert (now["pattern"], now["hold_ms"]) == ("long", 2000)  # its settings go on
    assert set(kept) <= {p.name for p in (blank.flash / "data").rglob("*")}  # nothing erased
    await blank.console.expect(r"(?:msa: firmware 0\.3\.0 on emulated device 0badf00d[\s\S]*){2}")
    # A rotation that was cut short: the board still holds epoch 0's key. The same
    # command finishes it (epoch 1's key), and starts no third epoch.
    (blank.flash / "device.json").write_text(json.dumps(first))
    code, out, err = await provision(blank, backend, *args, "--rotate")
    assert code == 0, err
    assert (json.loads(out)["epoch"], json.loads(out)["rotated"]) == (1, False)
    assert json.loads((blank.flash / "device.json").read_text())["key"] == now["key"]


@pytest.mark.parametrize("step", [1, 2, 3, 4])
async def test_provisioning_killed_at_a_step_finishes_when_run_again(
    blank: EmulatedBoard, backend, step
):
    db, kek = backend
    args = ("--case", REFERENCE, "--device-id", "0badf00d", "--db", db, "--kek-file", str(kek))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msa.cli", "provision", "--port", blank.serial_port, *args,
        "--until", "board", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    marker = f"[{step}/6]".encode()
    while marker not in (line := await within(process.stdout.readline(), 60)):
        assert line, f"msa provision ended before step {step}"
    process.kill()  # SIGKILL, as the step begins
    await process.wait()

    code, out, err = await provision(blank, backend, "--device-id", "0badf00d", "--json")

    assert code == 0, err
    done = json.loads(out)
    written = json.loads((blank.flash / "device.json").read_text())
    assert (done["epoch"], written["epoch"]) == (0, 0)
    store = await open_store(db, load_kek(kek))
    try:  # one key, the board's, whichever step was cut
        assert await store.active_key(0x0BADF00D) == (0, bytes.fromhex(written["key"]), 1)
        assert await store.has_phone_token(0x0BADF00D, 0)
    finally:
        await store.close()
    await blank.console.expect("msa: firmware 0.3.0 on emulated device 0badf00d")


async def test_with_its_board_kind_a_board_without_firmware_gets_it_first(
    blank: EmulatedBoard, backend
):
    for path in blank.flash.rglob("*.mpy"):
        path.unlink()  # the firmware gone
    for path in blank.flash.rglob("app.py"):
        path.unlink()
    before = await rows(backend[0])
    code, _, err = await provision(blank, backend, "--device-id", "0badf00d", "--board", "esp32")
    assert code == 2 and "says it is a 'linux" in err and "not an esp32" in err
    assert await rows(backend[0]) == before

    code, out, err = await provision(blank, backend, "--device-id", "0badf00d", "--board",
                                     "emulated")  # fmt: skip

    assert code == 0, err
    assert "deploying the emulated build" in out and "files written, verified" in out
    await blank.console.expect("msa: firmware 0.3.0 on emulated device 0badf00d")
