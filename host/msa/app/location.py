"""The phone's position, emulated: it stands still, or walks at a steady pace along
a heading (a victim moving away, so that the console's trail moves)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from msa.timefmt import to_iso

METRES_PER_DEGREE = 111_320.0  # of latitude; of longitude times cos(latitude)


@dataclass
class Location:
    lat: float
    lon: float
    accuracy_m: float
    speed_mps: float = 0.0
    heading_deg: float = 45.0  # 0 north, 90 east
    started: float = field(default_factory=time.time)

    def at(self, when: float) -> tuple[float, float]:
        """Where the phone is at `when` (Unix seconds)."""
        metres = self.speed_mps * max(0.0, when - self.started)
        heading = math.radians(self.heading_deg)
        lat = self.lat + metres * math.cos(heading) / METRES_PER_DEGREE
        lon = self.lon + metres * math.sin(heading) / (
            METRES_PER_DEGREE * math.cos(math.radians(self.lat))
        )
        return lat, lon

    def current(self) -> dict[str, Any]:
        now = time.time()
        lat, lon = self.at(now)
        return {
            "lat": round(lat, 7),
            "lon": round(lon, 7),
            "accuracy_m": self.accuracy_m,
            "fix_at": to_iso(round(now * 1000)),
        }

    def walking(self, speed_mps: float = 1.4) -> Location:
        """This place, left on foot from now."""
        return Location(self.lat, self.lon, self.accuracy_m, speed_mps, self.heading_deg)


GHENT = Location(51.0543, 3.7174, 8.0)
