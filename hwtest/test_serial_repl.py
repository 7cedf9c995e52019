"""The board's USB serial REPL: what the tech desk and developers reach with mpremote."""

from __future__ import annotations

import pytest

from boards.emulated.emulator import EmulatedBoard
from hwtest.programs import mpremote

pytestmark = pytest.mark.hil


async def test_mpremote_runs_code_on_the_board(board: EmulatedBoard):
    assert (await mpremote(board.serial_port, "exec", "print(6 * 7)")).strip() == "42"


async def test_code_that_ends_with_a_newline_runs_rather_than_resetting(board: EmulatedBoard):
    # In the raw REPL, Ctrl-D after "...\n" runs the code; only Ctrl-D on an
    # empty buffer is a soft reset.
    assert (await mpremote(board.serial_port, "exec", "x = 6\nprint(x * 7)\n")).strip() == "42"


async def test_mpremote_sees_the_flash(board: EmulatedBoard):
    listing = await mpremote(board.serial_port, "fs", "ls")
    for name in ("main.py", "board.py", "device.json", "lib/"):
        assert name in listing
    shown = await mpremote(board.serial_port, "fs", "cat", "device.json")
    assert '"device_id": 195939070' in shown


async def test_a_reset_from_mpremote_boots_the_firmware_again(board: EmulatedBoard):
    board.console.clear()
    await mpremote(board.serial_port, "reset")
    await board.console.expect("msa: firmware")


async def test_output_lines_end_as_a_usb_serial_sends_them(board: EmulatedBoard):
    # MicroPython's cooked stdout: "\n" leaves a board as "\r\n", which line
    # readers of a serial port (pyboard.py, terminal programs) split on.
    shown = await mpremote(board.serial_port, "exec", "print('one');print('two\\r\\nthree')")
    assert shown == "one\r\ntwo\r\nthree\r\n"
