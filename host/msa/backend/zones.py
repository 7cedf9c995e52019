"""The intervention zone: the police zone where the protected person is now.

A zone is the union of boxes (`zone_areas`); the zone of a point is the one whose
smallest box holds it, so that a city zone inside a larger box wins. The boxes
seeded here are a **demo approximation** around Ghent, Brussels and Antwerp, not
the legal boundaries: a deployment loads the real zone polygons (a table of
boxes is what this version matches against; see docs/cic.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from msa.backend.store.base import ZoneArea

# (zone, judicial district, south, west, north, east): rough boxes for the demo.
DEMO_AREAS: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("PZ Gent", "Oost-Vlaanderen", 50.980, 3.580, 51.190, 3.850),
    ("PZ Lochristi", "Oost-Vlaanderen", 51.060, 3.850, 51.160, 3.950),
    ("PZ Rhode & Schelde", "Oost-Vlaanderen", 50.930, 3.720, 50.980, 3.880),
    ("PZ Deinze-Zulte-Lievegem", "Oost-Vlaanderen", 50.930, 3.430, 51.150, 3.580),
    ("PZ Antwerpen", "Antwerpen", 51.140, 4.250, 51.380, 4.500),
    ("PZ Brussel-Hoofdstad Elsene", "Brussel", 50.790, 4.300, 50.900, 4.440),
)


def locate(areas: Iterable[ZoneArea], lat: float, lon: float) -> str | None:
    """The zone whose smallest box holds (lat, lon); None outside every box."""
    best: tuple[float, str] | None = None
    for area in areas:
        if area.south <= lat <= area.north and area.west <= lon <= area.east:
            size = (area.north - area.south) * (area.east - area.west)
            if best is None or size < best[0]:
                best = (size, area.zone)
    return None if best is None else best[1]


def demo_areas() -> list[tuple[ZoneArea, str]]:
    """The demo boxes, each with its zone's judicial district."""
    return [
        (ZoneArea(zone, south, west, north, east), district)
        for zone, district, south, west, north, east in DEMO_AREAS
    ]
