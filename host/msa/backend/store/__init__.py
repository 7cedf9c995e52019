"""Where the backend keeps everything: `open_store(url)` gives a `Store`.

URLs: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`,
`sqlite:///:memory:`, `postgresql://user@host:port/db` (or `postgres://`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msa.backend.store.base import Store, StoreUnavailable
from msa.errors import UsageError

if TYPE_CHECKING:
    from msa.backend.keys import Kek

DEFAULT_URL = "sqlite:///.msa/msa.db"

__all__ = ["DEFAULT_URL", "Store", "StoreUnavailable", "open_store", "sqlite_path"]


def sqlite_path(url: str) -> str | None:
    """The file path of a `sqlite:///` URL, or None for another scheme."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix) :]
    if not path:
        raise UsageError(f"{url!r} names no file; write sqlite:///path/to/file.db")
    return path


async def open_store(url: str, kek: Kek | None = None) -> Store:
    """Open the store at `url` (not migrated: call `migrate()`).

    `kek` wraps device keys on their way into the database and unwraps them on
    their way out (msa.backend.keys); a store without one refuses to do either
    (KekError). With one, `migrate()` checks that the database's keys are under it.
    Raises UsageError for a URL of no known kind, StoreUnavailable when the
    database cannot be opened or reached.
    """
    path = sqlite_path(url)
    if path is not None:
        from msa.backend.store.sqlite import SqliteStore

        return await SqliteStore.open(path, kek=kek)
    if url.startswith(("postgresql://", "postgres://")):
        from msa.backend.store.postgres import PostgresStore

        return await PostgresStore.open(url, kek=kek)
    raise UsageError(
        f"unknown database URL {url!r}: use sqlite:///path/to/file.db or "
        "postgresql://user@host:port/database"
    )
