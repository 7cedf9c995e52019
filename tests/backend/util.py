"""What the backend tests share: the seeded identities, frames, request bodies, SSE."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx

from protocol import frame

DEVICE_ID = 0x00C0FFEE
KEY = bytes(range(32))
PHONE_TOKEN = "phone-token-of-the-demo-case"
OPERATOR_TOKEN = "operator-token-of-the-cic"
PHONE = {"Authorization": f"Bearer {PHONE_TOKEN}"}
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
TIME_S = 1764000000  # 2025-11-24T16:00:00Z
RECEIVED_AT = "2026-11-23T19:02:03.456Z"
LOCATION = {"lat": 51.0543, "lon": 3.7174, "accuracy_m": 8.0, "fix_at": "2026-11-23T19:02:02.900Z"}


@dataclass
class ManualClock:
    """A clock (epoch ms) the test sets."""

    now: int

    def __call__(self) -> int:
        return self.now


def signed(
    counter: int,
    kind: int = frame.ALARM,
    *,
    time_s: int = TIME_S,
    battery_mv: int = 3010,
    key: bytes = KEY,
    device_id: int = DEVICE_ID,
) -> bytes:
    """A button frame as the emulated button would sign it."""
    if kind == frame.HEARTBEAT:
        payload = frame.heartbeat_payload(time_s, battery_mv, 3600)
    else:
        payload = frame.alarm_payload(time_s, battery_mv)
    return frame.sign(key, kind, device_id, counter, payload)


def body(raw: bytes, **changes: Any) -> dict[str, Any]:
    """The phone's request body for `raw`, with fields replaced by `changes`."""
    return {"frame": raw.hex(), "received_at": RECEIVED_AT, "location": LOCATION, **changes}


class EventStream:
    """Reads a server-sent-events response one event at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, timeout_s: float = 10.0) -> tuple[str, dict[str, Any]]:
        """The next event with data, as (event name, parsed JSON data)."""
        async with asyncio.timeout(timeout_s):
            name, data = "message", []
            async for line in self._lines:
                if line == "":
                    if data:
                        return name, json.loads("\n".join(data))
                    name = "message"
                elif not line.startswith(":"):
                    field, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if field == "event":
                        name = value
                    elif field == "data":
                        data.append(value)
        raise EOFError("the event stream ended")

    async def until_ready(self) -> list[dict[str, Any]]:
        """The alarms sent on connect, up to the `ready` event; the security
        notices sent before them are kept in `notices`."""
        alarms: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        while True:
            name, data = await self.next()
            if name == "ready":
                assert data["open_alarms"] == len(alarms)
                return alarms
            if name == "security":
                assert not alarms, "security notices come before the alarms"
                self.notices.append(data)
                continue
            assert name == "alarm"
            alarms.append(data)
