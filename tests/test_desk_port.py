"""The tech desk's REPL sessions (msa.desk.on_repl, mpremote's transport) on a port
whose board does not answer: a pty that nobody serves, where mpremote's reads block."""

from __future__ import annotations

import os
import pty
import time

import pytest

from msa.desk import BoardError, on_repl
from msa.firmware.deploy import READ_TIMEOUT_S


def test_a_board_that_never_answers_is_an_error_to_report_not_a_hang():
    master, slave = pty.openpty()
    try:
        began = time.monotonic()
        with pytest.raises(BoardError, match="stopped answering.*run the same command again"):
            on_repl(os.ttyname(slave), lambda transport: None)
        # mpremote gives up on entering the raw REPL after 10 s; each read is bounded.
        assert time.monotonic() - began < 10 + 2 * READ_TIMEOUT_S
    finally:
        os.close(master)
        os.close(slave)
