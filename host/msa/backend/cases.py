"""A case as the reference officer hands it to the backend: a JSON file, read
into a `CaseDraft` with an error that names the field for anything wrong.

    {"reference": "GE.60.L1.012345/26", "decided_on": "2026-10-05",
     "ends_on": "2027-07-05", "managing_zone": "PZ Gent",
     "judicial_district": "Oost-Vlaanderen",
     "persons": [{"full_name": ..., "phone_number": ..., "national_register_number": ...,
                  "confidential": false,
                  "addresses": [{"kind": "home", "address": ..., "lat": ..., "lon": ...}]}],
     "suspect": {"full_name": ..., "record": ..., "has_weapons": true, "weapons": ...}}
"""

from __future__ import annotations

import datetime
from typing import Any

from msa.backend.store.base import Address, CaseDraft, PersonDraft, Suspect
from msa.errors import UsageError

ADDRESS_KINDS = ("home", "work", "stay")


def draft_from_json(data: Any) -> CaseDraft:
    case = _object(data, "the case")
    persons = _list(case, "persons", "the case")
    if not persons:
        raise UsageError("the case has no persons: add the protected person under 'persons'")
    suspect = case.get("suspect")
    return CaseDraft(
        reference=_text(case, "reference", "the case"),
        decided_on=_date(case, "decided_on", "the case"),
        ends_on=_date(case, "ends_on", "the case") if case.get("ends_on") is not None else None,
        managing_zone=_text(case, "managing_zone", "the case"),
        judicial_district=_text(case, "judicial_district", "the case"),
        persons=tuple(_person(p, f"persons[{i}]") for i, p in enumerate(persons)),
        suspect=None if suspect is None else _suspect(suspect),
    )


def _person(data: Any, where: str) -> PersonDraft:
    person = _object(data, where)
    addresses = _list(person, "addresses", where) if "addresses" in person else []
    return PersonDraft(
        full_name=_text(person, "full_name", where),
        phone_number=_text(person, "phone_number", where),
        national_register_number=_text(person, "national_register_number", where),
        confidential=_bool(person, "confidential", where, default=False),
        addresses=tuple(_address(a, f"{where}.addresses[{i}]") for i, a in enumerate(addresses)),
    )


def _address(data: Any, where: str) -> Address:
    address = _object(data, where)
    kind = _text(address, "kind", where)
    if kind not in ADDRESS_KINDS:
        raise UsageError(f"{where}.kind is {kind!r}: use one of {', '.join(ADDRESS_KINDS)}")
    lat, lon = address.get("lat"), address.get("lon")
    if (lat is None) != (lon is None):
        raise UsageError(f"{where}: give both lat and lon, or neither")
    return Address(
        kind=kind,
        address=_text(address, "address", where),
        valid_from=_date(address, "valid_from", where) if address.get("valid_from") else None,
        valid_until=_date(address, "valid_until", where) if address.get("valid_until") else None,
        lat=None if lat is None else _number(address, "lat", where, -90, 90),
        lon=None if lon is None else _number(address, "lon", where, -180, 180),
    )


def _suspect(data: Any) -> Suspect:
    suspect = _object(data, "suspect")
    return Suspect(
        full_name=_text(suspect, "full_name", "suspect"),
        record=_text(suspect, "record", "suspect"),
        has_weapons=_bool(suspect, "has_weapons", "suspect"),
        weapons=suspect.get("weapons") or "",
    )


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a JSON object")
    return data


def _list(data: dict[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise UsageError(f"{where}: '{key}' must be a list")
    return value


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: '{key}' must be a non-empty text")
    return value.strip()


def _bool(data: dict[str, Any], key: str, where: str, default: bool | None = None) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"{where}: '{key}' must be true or false")
    return value


def _date(data: dict[str, Any], key: str, where: str) -> str:
    value = _text(data, key, where)
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"{where}: '{key}' is {value!r}, not a date such as 2026-10-05") from None


def _number(data: dict[str, Any], key: str, where: str, low: float, high: float) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise UsageError(f"{where}: '{key}' must be a number from {low:g} to {high:g}")
    return float(value)
