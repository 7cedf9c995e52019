"""The phone's outbox: every frame from the button, stored before it is acknowledged.

A frame enters once (its identity is `(device_id, counter)`) and waits as `pending`
until the backend answers 200 with its receipt (protocol/SPEC.md §5.1). It then
waits as `delivered`, with the receipt, until the receipt is written to the button,
and only then leaves: the button forgets a frame on its receipt alone. A frame the
backend refuses for good (a 4xx) stays as `rejected`, with the reason, for the app
to show: it is never silently dropped. The file holds where the victim was: it is its
owner's alone (0600).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msa.private_files import create_private
from protocol import frame

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    device_id   INTEGER NOT NULL,
    counter     INTEGER NOT NULL,
    type        INTEGER NOT NULL,
    data        BLOB    NOT NULL,
    received_at REAL    NOT NULL,
    location    TEXT,
    status      TEXT    NOT NULL DEFAULT 'pending',
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    receipt     BLOB,
    retry_at    REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, counter)
);
"""
# Columns added since the first outbox: an existing phone's file gets them.
ADDED_COLUMNS = {"receipt": "BLOB", "retry_at": "REAL NOT NULL DEFAULT 0"}


@dataclass(frozen=True)
class Entry:
    device_id: int
    counter: int
    type: int
    data: bytes
    received_at: float  # Unix seconds, when the phone received it
    location: dict[str, Any] | None
    attempts: int

    @property
    def is_alarm(self) -> bool:
        return self.type in (frame.ALARM, frame.TEST_ALARM)


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path)  # SQLite gives its -wal and -shm files the same mode
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # an ACK promises the frame is on disk
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(outbox)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in columns:
                self.db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self.db.close()

    def put(
        self,
        received: frame.Frame,
        location: dict[str, Any] | None,
        received_at: float | None = None,
    ) -> bool:
        """Store a frame durably; False when it was already there (a re-send)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO outbox (device_id, counter, type, data, received_at, location)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                received.device_id,
                received.counter,
                received.type,
                received.to_bytes(),
                time.time() if received_at is None else received_at,
                None if location is None else json.dumps(location),
            ),
        )
        return cursor.rowcount == 1

    def pending(self, limit: int = 50, now: float | None = None) -> list[Entry]:
        """Frames to forward now: alarms first, then the rest, each oldest first
        (a frame set aside by `later()` only once its time has come)."""
        rows = self.db.execute(
            "SELECT device_id, counter, type, data, received_at, location, attempts"
            " FROM outbox WHERE status = 'pending' AND retry_at <= ?"
            " ORDER BY type NOT IN (?, ?), received_at, counter LIMIT ?",
            (time.time() if now is None else now, frame.ALARM, frame.TEST_ALARM, limit),
        ).fetchall()
        return [
            Entry(d, c, t, bytes(data), r, None if loc is None else json.loads(loc), a)
            for d, c, t, data, r, loc, a in rows
        ]

    def next_retry(self) -> float | None:
        """When the earliest frame set aside by `later()` is due, or None."""
        (at,) = self.db.execute(
            "SELECT min(retry_at) FROM outbox WHERE status = 'pending' AND retry_at > 0"
        ).fetchone()
        return None if at is None else float(at)

    def holds(self, device_id: int, counter: int) -> bool:
        """The frame is here, whatever its status."""
        row = self.db.execute(
            "SELECT 1 FROM outbox WHERE device_id = ? AND counter = ?", (device_id, counter)
        ).fetchone()
        return row is not None

    def delivered(self, entry: Entry, receipt: bytes | None) -> None:
        """The backend committed it: keep its receipt for the button; without one (a
        backend from before receipts) there is nothing to hand on, and it leaves."""
        if receipt is None:
            self.receipted(entry.device_id, entry.counter)
            return
        self.db.execute(
            "UPDATE outbox SET status = 'delivered', receipt = ?, last_error = NULL"
            " WHERE device_id = ? AND counter = ?",
            (receipt, entry.device_id, entry.counter),
        )

    def receipt(self, device_id: int, counter: int) -> bytes | None:
        """The backend's receipt for a delivered frame, or None."""
        row = self.db.execute(
            "SELECT receipt FROM outbox WHERE device_id = ? AND counter = ?"
            " AND status = 'delivered'",
            (device_id, counter),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def receipts(self, device_id: int, limit: int = 50) -> list[tuple[int, bytes]]:
        """(counter, receipt) of the delivered frames whose receipt the button still needs."""
        rows = self.db.execute(
            "SELECT counter, receipt FROM outbox WHERE device_id = ? AND status = 'delivered'"
            " ORDER BY counter LIMIT ?",
            (device_id, limit),
        ).fetchall()
        return [(int(c), bytes(r)) for c, r in rows]

    def receipted(self, device_id: int, counter: int) -> None:
        """The button has the receipt (or needs none): the frame leaves."""
        self.db.execute(
            "DELETE FROM outbox WHERE device_id = ? AND counter = ?", (device_id, counter)
        )

    def failed(self, entry: Entry, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?"
            " WHERE device_id = ? AND counter = ?",
            (error, entry.device_id, entry.counter),
        )

    def later(self, entry: Entry, error: str, delay_s: float) -> None:
        """Not now (the backend cannot take it yet): try it again in delay_s, not before."""
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, retry_at = ?"
            " WHERE device_id = ? AND counter = ?",
            (error, time.time() + delay_s, entry.device_id, entry.counter),
        )

    def rejected(self, entry: Entry, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'rejected', attempts = attempts + 1, last_error = ?"
            " WHERE device_id = ? AND counter = ?",
            (error, entry.device_id, entry.counter),
        )

    def count(self, status: str = "pending") -> int:
        (n,) = self.db.execute("SELECT count(*) FROM outbox WHERE status = ?", (status,)).fetchone()
        return int(n)

    def rejections(self) -> list[tuple[int, int, str]]:
        return [
            (d, c, e)
            for d, c, e in self.db.execute(
                "SELECT device_id, counter, last_error FROM outbox WHERE status = 'rejected'"
            )
        ]
