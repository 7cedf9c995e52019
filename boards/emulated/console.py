"""The emulated board's USB serial port: a pseudo-terminal that mpremote opens.

Bytes are relayed between that pty and the terminal of the current MicroPython
process. The unix port answers the raw REPL as a real board does, except for the
soft reset (Ctrl-D on an empty line), which would end the process: the console
catches it and asks the board to restart its interpreter on the same flash, as a
real board would, and prints what a real board prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import termios
import tty
from collections.abc import Awaitable, Callable
from pathlib import Path

from msa.waiting import within

CTRL_A, CTRL_B, CTRL_C, CTRL_D = b"\x01", b"\x02", b"\x03", b"\x04"
FRIENDLY_PROMPT = b">>> "
# What a USB serial bridge holds for a host that does not read: past it, output
# is dropped, as a real board's is; the host's event loop never waits on a reader.
SERIAL_BUFFER_BYTES = 64 * 1024

SoftReset = Callable[[bool], Awaitable[None]]  # argument: into the raw REPL
Interrupt = Callable[[], Awaitable[None]]  # stop main.py, keep the REPL


def make_terminal() -> tuple[int, int]:
    """A pty pair for one interpreter: no echo, no output processing, ^C -> SIGINT."""
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


class Pipe:
    """Non-blocking writes to a pty master, through a bounded buffer.

    Bytes the other side does not take yet wait here (and are written when it
    can take them); past `limit` waiting bytes, the oldest are dropped and
    counted in `dropped`. A write never blocks the caller.
    """

    def __init__(self, fd: int, limit: int = SERIAL_BUFFER_BYTES) -> None:
        self.fd = fd
        self.limit = limit
        self.dropped = 0
        self._waiting = bytearray()
        self._watching = False
        os.set_blocking(fd, False)

    def write(self, data: bytes) -> None:
        self._waiting += data
        self._flush()
        excess = len(self._waiting) - self.limit
        if excess > 0:
            del self._waiting[:excess]
            self.dropped += excess

    def _flush(self) -> None:
        while self._waiting:
            try:
                written = os.write(self.fd, self._waiting)
            except BlockingIOError:
                break
            except OSError:  # the other side is gone: nobody will read this
                self.dropped += len(self._waiting)
                self._waiting.clear()
                break
            del self._waiting[:written]
        self._watch(bool(self._waiting))

    def _watch(self, wanted: bool) -> None:
        if wanted == self._watching:
            return
        loop = asyncio.get_running_loop()
        if wanted:
            loop.add_writer(self.fd, self._flush)
        else:
            loop.remove_writer(self.fd)
        self._watching = wanted

    def close(self) -> None:
        if self._watching:
            with contextlib.suppress(RuntimeError):
                self._watch(False)
        self._waiting.clear()


class ConsoleTimeout(AssertionError):
    """expect() gave up: the message shows what the board did print."""


class BoardOutput:
    """What a board printed since the last clear(), and expect() on it: the emulated
    console's and a real board's serial console's (hwtest/serial_board.py)."""

    where = "the board"  # for messages

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.output = bytearray()  # everything printed since the last clear()
        self._changed = asyncio.Event()

    def _printed(self, data: bytes) -> None:
        self.output += data
        self._changed.set()

    def clear(self) -> None:
        self.output.clear()

    async def expect(self, pattern: str | bytes, timeout: float = 10.0) -> re.Match[bytes]:
        """Wait until the board prints something matching `pattern` (a regex)."""
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (match := regex.search(self.output)) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                tail = bytes(self.output[-600:]).decode(errors="replace")
                raise ConsoleTimeout(
                    f"{self.where} did not print {regex.pattern!r} within {timeout:.0f} s;"
                    f" it printed (last 600 bytes):\n{tail}\nfull log: {self.log_path}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await within(self._changed.wait(), remaining)
        return match


class Console(BoardOutput):
    def __init__(self, log_path: Path) -> None:
        super().__init__(log_path)
        self.log = open(log_path, "ab", buffering=0)  # noqa: SIM115 (lives with the board)
        self._user, user_slave = pty.openpty()
        tty.setraw(user_slave)
        self._to_port = Pipe(self._user)
        self._to_interp: Pipe | None = None
        self.port = os.ttyname(user_slave)
        self._user_slave = user_slave  # kept open so the port survives mpremote closing it
        self._interp: int | None = None
        self._raw = False
        self._line_empty = True
        self._after_cr = False  # the last byte to the port was "\r"
        self._swallow_until_prompt = False
        self._program_runs = False  # main.py, not the REPL, has the interpreter
        self._held: bytearray | None = None  # the user's bytes while it restarts
        self.on_soft_reset: SoftReset | None = None
        self.on_interrupt: Interrupt | None = None
        loop = asyncio.get_running_loop()
        loop.add_reader(self._user, self._from_user)

    def close(self) -> None:
        self.detach()
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._user)
        self._to_port.close()
        for fd in (self._user, self._user_slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.log.close()

    # -- the interpreter's side --------------------------------------------------

    def attach(self, master: int, raw_repl: bool = False, runs_program: bool = False) -> None:
        """Relay a newly started interpreter; with raw_repl, bring it to the raw REPL;
        `runs_program`: it runs main.py (until its REPL's prompt)."""
        self.detach()
        self._interp = master
        self._to_interp = Pipe(master)
        self._raw = raw_repl
        self._swallow_until_prompt = raw_repl
        self._program_runs = runs_program
        if runs_program:  # a boot, not the REPL the held bytes were typed for
            self._held = None
        asyncio.get_running_loop().add_reader(master, self._from_interpreter)

    def detach(self) -> None:
        if self._interp is not None:
            asyncio.get_running_loop().remove_reader(self._interp)
            if self._to_interp is not None:
                self._to_interp.close()
                self._to_interp = None
            with contextlib.suppress(OSError):
                os.close(self._interp)
            self._interp = None

    def _from_interpreter(self) -> None:
        assert self._interp is not None
        try:
            data = os.read(self._interp, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the process is gone
            asyncio.get_running_loop().remove_reader(self._interp)
            return
        self.log.write(data)
        self._printed(data)
        at_prompt = FRIENDLY_PROMPT in self.output[-len(data) - 4 :]
        if self._swallow_until_prompt:
            # After a soft reset into the raw REPL a real board prints nothing
            # of the friendly banner: wait for its prompt, then ask for raw.
            if at_prompt:
                self._swallow_until_prompt = False
                self._to_interpreter(b"\r" + CTRL_A)
            return
        self._to_user(self._cooked(data))
        if at_prompt:
            self._program_runs = False
            if self._held is not None:  # what came while it restarted, in order
                held, self._held = self._held, None
                self._take_from_user(bytes(held))

    def _cooked(self, data: bytes) -> bytes:
        """Newlines as a board's USB serial sends them (MicroPython's cooked
        stdout): a bare "\n" goes out as "\r\n", so line readers that split on
        "\r\n" follow the emulated board as they follow a real one."""
        out = re.sub(rb"(?<!\r)\n", b"\r\n", data)
        if self._after_cr and data.startswith(b"\n"):
            out = out[1:]  # this chunk's first "\n" ended a "\r" already sent
        self._after_cr = data.endswith(b"\r")
        return out

    def _to_user(self, data: bytes) -> None:
        self._to_port.write(data)

    def _to_interpreter(self, data: bytes) -> None:
        if self._to_interp is not None:
            self._to_interp.write(data)

    @property
    def dropped(self) -> int:
        """Bytes of output dropped because nobody read the serial port."""
        return self._to_port.dropped

    # -- the user's side (mpremote, a terminal) -------------------------------------

    def _from_user(self) -> None:
        try:
            data = os.read(self._user, 4096)
        except OSError:  # BlockingIOError included: nothing to read after all
            return
        self._take_from_user(data)

    def _take_from_user(self, data: bytes) -> None:
        for i in range(len(data)):
            byte = data[i : i + 1]
            if self._held is not None:
                self._held += data[i:]
                return
            if byte == CTRL_C and self._program_runs and self.on_interrupt is not None:
                self._interrupt()
                continue
            if byte == CTRL_D and self._line_empty and self.on_soft_reset is not None:
                self._soft_reset()
                continue
            self._track(byte)
            self._to_interpreter(byte)

    def _track(self, byte: bytes) -> None:
        if byte == CTRL_A:
            self._raw, self._line_empty = True, True
        elif byte == CTRL_B:
            self._raw, self._line_empty = False, True
        elif byte in (CTRL_C, CTRL_D):
            self._line_empty = True
        elif byte in (b"\r", b"\n"):
            # The raw REPL runs its buffer on Ctrl-D, newlines and all: only an
            # empty buffer makes Ctrl-D a soft reset there.
            self._line_empty = self._line_empty or not self._raw
        else:
            self._line_empty = False

    def _interrupt(self) -> None:
        # The unix port raises KeyboardInterrupt from its signal handler, wherever
        # the interpreter is: in the radio's reader (whose scheduler prints it and
        # goes on: the program never stops) or inside the allocator (the heap stays
        # locked). A board raises it between two bytecodes. So while main.py runs,
        # the console stops it itself: the interpreter restarts into the REPL, and
        # what the user sends meanwhile waits for its prompt.
        self._program_runs = False
        self._held = bytearray()
        self._line_empty, self._raw = True, False
        stopped = b"KeyboardInterrupt: \r\n"
        self.log.write(stopped)
        self._printed(stopped)
        self._to_user(stopped)
        assert self.on_interrupt is not None
        asyncio.get_running_loop().create_task(self.on_interrupt())

    def _soft_reset(self) -> None:
        raw = self._raw
        if raw:
            self._to_user(b"OK\r\n")
        self._to_user(b"MPY: soft reboot\r\n")
        assert self.on_soft_reset is not None
        asyncio.get_running_loop().create_task(self.on_soft_reset(raw))
