"""Work folders a tool owns: emptied only when they are its own, locked while in use.

`msa demo --dir X` starts afresh by emptying X: it must never empty a folder it did
not make (a home folder, a checkout). A folder is a tool's own when it holds the
tool's marker file, written when the tool created it (or found it empty).
`FolderLock` keeps a second process off a folder in use (two `msa board run` on one
flash), and names the process that holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from types import TracebackType

from msa.errors import UsageError

MARKER = ".msa-folder"


def fresh(path: Path, owner: str) -> Path:
    """`path` created, or emptied when it is `owner`'s own; anything else is refused."""
    claim(path, owner)
    for entry in path.iterdir():
        if entry.name == MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return path


def claim(path: Path, owner: str) -> Path:
    """Make `path` `owner`'s folder: created, or taken when empty or already its own."""
    marker = path / MARKER
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise UsageError(f"{path} is not a folder; choose another --dir")
    if path.is_dir():
        if marker.is_file():
            found = marker.read_text().strip()
            if found != owner:
                raise UsageError(f"{path} belongs to {found}, not {owner}; choose another --dir")
            return path
        if any(path.iterdir()):
            raise UsageError(
                f"{path} is not empty and not made by {owner}: it would be emptied; "
                "choose a new or empty folder with --dir"
            )
    path.mkdir(parents=True, exist_ok=True)
    marker.write_text(owner + "\n")
    return path


class FolderLock:
    """An exclusive lock on a folder for as long as this process uses it.

    The lock is the kernel's (flock on `.lock`): it ends with the process, however
    it ends, so a killed holder never leaves a stale lock behind.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / ".lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UsageError(
                f"{self.path} is in use by {self.what} ({holder}); stop it first, "
                "or choose another --dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
