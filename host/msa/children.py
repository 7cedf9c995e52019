"""Child processes that end with their parent, SIGKILL of the parent included.

A test, the demo or a bench that is killed (a CI timeout, a developer's ^C that
turns into SIGKILL) must not leave a backend, an interpreter or a database
behind. Linux delivers a chosen signal to a child when the thread that forked it
dies (`prctl(PR_SET_PDEATHSIG)`); `die_with_parent` asks for SIGKILL and is run in
the child between fork and exec (`preexec_fn`), so it holds from the first
instruction of the new program.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
END_GRACE_S = 10.0
_libc: ctypes.CDLL | None = None


def _prctl() -> Callable[..., int] | None:
    global _libc
    if not sys.platform.startswith("linux"):
        return None
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc.prctl


def die_with_parent(parent_pid: int | None = None) -> None:
    """In a child before exec: be SIGKILLed when the parent dies.

    `parent_pid` closes the race of a parent that died before the prctl: then
    the child is already orphaned and ends at once.
    """
    prctl = _prctl()
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def preexec(then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A `preexec_fn` for subprocess and asyncio: die with this process, then `then`."""
    parent = os.getpid()

    def run() -> None:
        die_with_parent(parent)
        if then is not None:
            then()

    return run


def guard(cleanup: list[str]) -> subprocess.Popen[bytes]:
    """A watcher that runs `cleanup` once this process has died, however it died.

    For what leaves its parent by design (PostgreSQL's `pg_ctl start` daemonises
    the server): the watcher is our child, told of our death by SIGTERM. Stop it
    with `.kill()` when the cleanup is done some other way.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "msa.children", str(os.getpid()), *cleanup],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a ^C to the parent's group is not its business
        preexec_fn=_watcher_preexec(os.getpid()),
    )


def _watcher_preexec(parent: int) -> Callable[[], None]:
    def run() -> None:
        # Held back until the watcher's handler is there (the mask survives exec):
        # a parent that dies while the watcher starts up still gets its cleanup.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        prctl = _prctl()
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return run


def _watch(parent: int, cleanup: list[str]) -> None:
    def on_parent_death(_sig: int = 0, _frame: object = None) -> None:
        subprocess.run(cleanup, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_parent_death)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    if os.getppid() != parent:  # it died before we could be told
        on_parent_death()
    while True:
        signal.pause()


if __name__ == "__main__":
    _watch(int(sys.argv[1]), sys.argv[2:])


async def ended(process: asyncio.subprocess.Process, grace_s: float = END_GRACE_S) -> int:
    """SIGTERM, `grace_s` to finish, then SIGKILL: the exit code, never a hang."""
    if process.returncode is None:
        process.terminate()
        try:
            async with asyncio.timeout(grace_s):
                return await process.wait()
        except TimeoutError:
            process.kill()
    return await process.wait()
