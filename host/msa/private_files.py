"""Files only their owner may read (mode 0600 from their first byte): keys, tokens,
bonds, databases.

`os.open` with mode 0o600 creates the file with those permissions (the umask can
only take bits away), so no other user can open it between its creation and a
later `chmod`. SQLite gives a database's -wal and -shm files the database file's
own mode, so creating the database file this way covers those too.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` atomically (readers see the old file or the new one,
    never half of it), the new file readable and writable by its owner alone."""
    content = data.encode("utf-8") if isinstance(data, str) else data
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (then it is left as it is):
    for a file another library fills, such as a SQLite database."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(fd)
