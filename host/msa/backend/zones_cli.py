"""`msa backend zone-add` and `msa backend zones`: the police zones' areas, which
give an alarm its intervention zone (msa/backend/zones.py).

    msa backend zone-add --zone "PZ Gent" --district Oost-Vlaanderen \\
        --box 50.980,3.580,51.190,3.850          # south,west,north,east in degrees
    msa backend zones [--json]

A zone is the union of its boxes; adding the same box again changes nothing.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from msa.backend.inventory import check_district
from msa.backend.store import Store
from msa.backend.store.base import ZoneArea
from msa.cliargs import add_db, print_result
from msa.errors import UsageError

MAX_ZONE_NAME = 100


def register(actions: Any) -> None:
    add = actions.add_parser("zone-add", help="add a box to a police zone's area")
    add.add_argument("--zone", required=True, type=_zone, help="the police zone, e.g. 'PZ Gent'")
    add.add_argument("--district", required=True, help="its judicial district")
    add.add_argument(
        "--box",
        required=True,
        type=_box,
        metavar="S,W,N,E",
        help="south,west,north,east in decimal degrees (WGS84)",
    )
    add_db(add)
    add.add_argument("--json", action="store_true", help="print JSON")
    listed = actions.add_parser("zones", help="the police zones' areas")
    add_db(listed)
    listed.add_argument("--json", action="store_true", help="print JSON")


def _zone(text: str) -> str:
    name = text.strip()
    if not 1 <= len(name) <= MAX_ZONE_NAME:
        raise argparse.ArgumentTypeError(f"a zone's name has 1 to {MAX_ZONE_NAME} characters")
    return name


def _box(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    try:
        south, west, north, east = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give four numbers, south,west,north,east (50.98,3.58,51.19,3.85)"
        ) from None
    if not all(math.isfinite(v) for v in (south, west, north, east)):
        raise argparse.ArgumentTypeError(f"{text!r}: degrees are finite numbers")
    if not -90 <= south < north <= 90:
        raise argparse.ArgumentTypeError(f"{text!r}: south < north, both within -90..90")
    if not -180 <= west < east <= 180:
        raise argparse.ArgumentTypeError(f"{text!r}: west < east, both within -180..180")
    return south, west, north, east


async def zone_add(store: Store, args: argparse.Namespace) -> int:
    try:
        district = check_district(args.district)
    except ValueError as error:
        raise UsageError(f"--district: {error}") from None
    await store.migrate()
    area = ZoneArea(args.zone, *args.box)
    await store.add_zone_area(area, district)
    known = [a for a in await store.zone_areas() if a.zone == args.zone]
    result = {"zone": args.zone, "district": district, "boxes": len(known)}
    line = f"{args.zone} ({district}): {len(known)} box(es)"
    return print_result(args, result, [line])


async def zones(store: Store, args: argparse.Namespace) -> int:
    await store.migrate()
    areas = await store.zone_areas()
    result = {
        "areas": [
            {"zone": a.zone, "south": a.south, "west": a.west, "north": a.north, "east": a.east}
            for a in areas
        ]
    }
    lines = [f"{a.zone:32} {a.south:.5f},{a.west:.5f},{a.north:.5f},{a.east:.5f}" for a in areas]
    return print_result(args, result, lines or ["no zone areas: msa backend zone-add"])


ACTIONS = {"zone-add": zone_add, "zones": zones}
