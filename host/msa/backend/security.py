"""Security events for the CIC: a lost or stolen button (its key revoked with
`msa backend revoke`) was pressed, or sent anything. The frame is refused
(ingest.py); the event is kept once per frame and pushed to every console, with
the newest ones again to a console that connects (console.py)."""

from __future__ import annotations

from typing import Any

from msa.backend.store.base import SecurityEvent
from msa.timefmt import to_iso
from protocol import frame

BACKLOG = 20  # the newest events a console gets when it connects


def render(event: SecurityEvent) -> dict[str, Any]:
    """The event as the console shows it."""
    kind = frame.NAMES.get(event.frame_type, "unknown")
    status = event.device_status if event.device_status in ("lost", "stolen") else "revoked"
    return {
        "id": event.id,
        "at": to_iso(event.at),
        "kind": event.kind,
        "device_id": f"{event.device_id:08x}",
        "epoch": event.epoch,
        "counter": event.counter,
        "frame": kind,
        "device_status": status,
        "case_reference": event.case_reference,
        "text": (
            f"A {kind.replace('_', ' ')} from the {status} button {event.device_id:08x}"
            f" (key {event.epoch}) was refused: someone holds the button."
        ),
    }


def push_message(event: SecurityEvent) -> dict[str, Any]:
    """What ingest publishes on the push channel (console.py tells it from an alarm)."""
    return {"security": render(event)}
