"""The phone's outbox: every frame from the button, stored before it is acknowledged.

A frame enters once (its identity is `(device_id, counter)`), waits as `pending`
until the backend answers 200, and leaves. A frame the backend refuses for good
(a 4xx) stays as `rejected`, with the reason, for the app to show: it is never
silently dropped. The file holds where the victim was: it is its owner's alone (0600).
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
    PRIMARY KEY (device_id, counter)
);
"""


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

    def pending(self, limit: int = 50) -> list[Entry]:
        """Frames to forward: alarms first, then the rest, each oldest first."""
        rows = self.db.execute(
            "SELECT device_id, counter, type, data, received_at, location, attempts"
            " FROM outbox WHERE status = 'pending'"
            " ORDER BY type NOT IN (?, ?), received_at, counter LIMIT ?",
            (frame.ALARM, frame.TEST_ALARM, limit),
        ).fetchall()
        return [
            Entry(d, c, t, bytes(data), r, None if loc is None else json.loads(loc), a)
            for d, c, t, data, r, loc, a in rows
        ]

    def delivered(self, entry: Entry) -> None:
        self.db.execute(
            "DELETE FROM outbox WHERE device_id = ? AND counter = ?",
            (entry.device_id, entry.counter),
        )

    def failed(self, entry: Entry, error: str) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?"
            " WHERE device_id = ? AND counter = ?",
            (error, entry.device_id, entry.counter),
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
