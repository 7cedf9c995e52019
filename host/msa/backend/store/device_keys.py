"""Device keys in the `devices` table: wrapped on the way in, unwrapped on the way
out (msa.backend.keys), so that past the store the backend sees `mac_key: bytes`.

Migration 0005 replaced the plaintext `mac_key` column by `mac_key_wrapped` and
`kek_id`. SQL cannot wrap, so the store carries an older database's keys through
that migration itself, inside the migration's transaction: `plaintext_keys`
before the script drops the column, `store_wrapped` after. Without a KEK the
migration is refused (KekError) and rolled back: no key is lost, none is left
in plain text by a migration that committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msa.backend.keys import Kek, KekError, require_kek
from msa.backend.store.queries import Row

if TYPE_CHECKING:
    from msa.backend.store.sql import Connection

MIGRATION = "0005"  # the one that wraps


async def plaintext_keys(conn: Connection) -> list[tuple[int, bytes]]:
    """The (device id, key) pairs still in plain text, before MIGRATION."""
    rows = await conn.fetch("SELECT device_id, mac_key FROM devices ORDER BY device_id")
    return [(int(row["device_id"]), bytes(row["mac_key"])) for row in rows]


async def store_wrapped(conn: Connection, kek: Kek | None, keys: list[tuple[int, bytes]]) -> None:
    """Write `keys` wrapped under `kek`; KekError without a KEK (the caller's
    transaction then rolls back, the plaintext column with it)."""
    if kek is None:
        raise KekError(
            f"the database holds {len(keys)} device keys in plain text (from before "
            f"migration {MIGRATION}); to wrap them, migrate with the KEK: "
            "msa backend migrate --kek-file PATH (or MSA_KEK)"
        )
    for device_id, key in keys:
        await conn.execute(
            "UPDATE devices SET mac_key_wrapped = $1, kek_id = $2 WHERE device_id = $3",
            kek.wrap(device_id, key),
            kek.id,
            device_id,
        )


async def check_kek(conn: Connection, kek: Kek) -> None:
    """KekError when any device key is wrapped under another KEK than `kek`."""
    rows = await conn.fetch(
        "SELECT kek_id, count(*) AS devices FROM devices"
        " WHERE kek_id IS NULL OR kek_id <> $1 GROUP BY kek_id ORDER BY count(*) DESC",
        kek.id,
    )
    if rows:
        other = rows[0]
        raise KekError(
            f"this database's device keys are wrapped under KEK {other['kek_id']} "
            f"({other['devices']} devices), not under the KEK given ({kek.id}): "
            "give the KEK this database was set up with"
        )


def wrapped_row(kek: Kek | None, device_id: int, key: bytes) -> tuple[bytes, str]:
    """The `mac_key_wrapped` and `kek_id` values for a device's key."""
    kek = require_kek(kek)
    return kek.wrap(device_id, key), kek.id


def unwrapped(kek: Kek | None, row: Row) -> bytes:
    """The key of the device in `row` (device_id, mac_key_wrapped, kek_id)."""
    kek = require_kek(kek)
    if row["kek_id"] != kek.id:
        raise KekError(
            f"the key of device {row['device_id']:08x} is wrapped under KEK {row['kek_id']}, "
            f"not under this backend's ({kek.id}): restart it with the database's KEK"
        )
    return kek.unwrap(row["device_id"], bytes(row["mac_key_wrapped"]))
