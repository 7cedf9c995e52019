"""`msa firmware deploy` against the emulated board's USB serial REPL, as on a bench."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from boards.emulated.emulator import EmulatedBoard
from hwtest.programs import mpremote
from msa.waiting import within

pytestmark = pytest.mark.hil


async def msa_deploy(port: str, *args: str) -> dict:
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "msa.cli", "firmware", "deploy", "--port", port],
        *["--board", "emulated", "--json", *args],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await within(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


def firmware_files(board: EmulatedBoard) -> list[str]:
    return sorted(
        p.relative_to(board.flash).as_posix()
        for p in board.flash.rglob("*")
        if p.is_file() and p.parts[len(board.flash.parts)] not in ("data", "device.json")
    )


async def test_deploy_replaces_the_sources_with_the_build_and_boots_it(board: EmulatedBoard):
    provisioning = (board.flash / "device.json").read_bytes()
    board.console.clear()

    report = await msa_deploy(board.serial_port)

    assert report["verified"] == len(report["written"]) + len(report["unchanged"]) > 10
    assert "lib/firmware/app.mpy" in report["written"] and "main.py" in report["unchanged"]
    assert {"board.py", "lib/firmware/app.py", "lib/protocol/frame.py"} <= set(report["removed"])
    assert report["rebooted"] and report["device"].startswith("linux")
    files = firmware_files(board)
    assert [f for f in files if f.endswith(".py")] == ["main.py"]
    assert "board.mpy" in files and "lib/firmware/sender.mpy" in files
    assert (board.flash / "device.json").read_bytes() == provisioning
    # The soft reboot ran main.py, on the bytecode: no source is left to run.
    await board.console.expect("msa: firmware")
    shown = await mpremote(board.serial_port, "exec", "import firmware.app as a; print(a.__file__)")
    # The emulated board imports by full path (boards/emulated/rom/_boot.py).
    assert shown.strip().endswith("lib/firmware/app.mpy")


async def test_a_second_deploy_writes_only_what_differs(board: EmulatedBoard):
    await msa_deploy(board.serial_port, "--no-reboot")
    damaged = board.flash / "lib" / "protocol" / "frame.mpy"
    damaged.write_bytes(damaged.read_bytes()[:100])  # a copy cut short

    report = await msa_deploy(board.serial_port, "--no-reboot")

    assert report["written"] == ["lib/protocol/frame.mpy"] and report["removed"] == []
    assert report["verified"] == len(report["unchanged"]) + 1
    assert not report["rebooted"]
    shown = await mpremote(board.serial_port, "exec", "import protocol.frame; print('ok')")
    assert shown.strip() == "ok"


async def test_a_build_for_another_board_is_refused_and_nothing_written(board: EmulatedBoard):
    before = firmware_files(board)
    board.console.clear()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "msa.cli", "firmware", "deploy"],
        *["--port", board.serial_port, "--board", "esp32"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await within(process.communicate(), 60)
    assert process.returncode == 1
    assert "says it is a 'linux" in err.decode() and "nothing was written" in err.decode()
    assert firmware_files(board) == before
    # Refused, the board runs its firmware again: a press still raises an alarm.
    await board.console.expect("msa: firmware", timeout=30)
    await board.console.expect("queued heartbeat", timeout=30)
    await board.press()
    await board.console.expect("queued alarm", timeout=30)


async def test_the_firmware_in_a_romfs_partition_runs_in_place(board: EmulatedBoard):
    """A board built with a ROMFS partition: the libraries are imported from /rom,
    ahead of the flash, as a port with MICROPY_VFS_ROM mounts it."""
    await board.power_cut()
    board.flash_firmware("romfs")
    assert not (board.flash / "lib").exists() and board.romfs_bytes > 10_000
    board.console.clear()
    await board.power_on()
    await board.console.expect("queued heartbeat")
    shown = await mpremote(
        board.serial_port,
        "exec",
        "import firmware.app as a, os; print(a.__file__, sorted(os.listdir('/rom/lib')))",
    )
    assert shown.strip().split(None, 1) == ["/rom/lib/firmware/app.mpy", "['firmware', 'protocol']"]
