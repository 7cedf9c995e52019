"""A demo case in Ghent, with its device, phone and a CIC operator.

The people are made up; the places are real (Ghent), so that a location and the
addresses make sense on a map. Idempotent: a second call with the same values
changes nothing, and with new ones gives the same device its new key, the same
phone link its new token and the same operator a new token.
"""

from __future__ import annotations

from typing import Any

from msa.backend import zones
from msa.backend.auth import CIC_OPERATOR, hash_token
from msa.backend.store import Store
from msa.backend.store.base import Address, CaseDraft, PersonDraft, Suspect

DEMO_OPERATOR = "cic-demo"
# The reference magistrate's mailbox of the district's prosecutor's office (made up).
DEMO_MAGISTRATE = "stalkingalarm@parket-oost-vlaanderen.example"

DEMO_CASE = CaseDraft(
    reference="GE.60.L1.012345/26",
    decided_on="2026-10-05",
    ends_on="2027-07-05",  # nine months
    managing_zone="PZ Gent",
    judicial_district="Oost-Vlaanderen",
    persons=(
        PersonDraft(
            full_name="Sarah Claes",
            phone_number="+32 470 12 34 56",
            national_register_number="90.05.14-124.23",
            confidential=False,
            addresses=(
                Address("home", "Brugsesteenweg 212, 9000 Gent", lat=51.06170, lon=3.69820),
                Address(
                    "work",
                    "AZ Sint-Lucas, Groenebriel 1, 9000 Gent",
                    lat=51.05840,
                    lon=3.73010,
                ),
                Address(
                    "stay",
                    "Sint-Annaplein 9, 9000 Gent (her sister's)",
                    valid_from="2026-12-20",
                    valid_until="2027-01-03",
                    lat=51.04950,
                    lon=3.73580,
                ),
            ),
        ),
        # Her daughter, protected by the same case (a button of her own when needed).
        PersonDraft(
            full_name="Lotte De Smet",
            phone_number="+32 471 98 76 54",
            national_register_number="12.08.30-206.41",
            confidential=False,
            addresses=(
                Address("home", "Brugsesteenweg 212, 9000 Gent", lat=51.06170, lon=3.69820),
            ),
        ),
    ),
    suspect=Suspect(
        full_name="Kevin De Smet",
        record=(
            "Ex-partner, does not accept the breakup (June 2026). Threatening texts and "
            "waiting at her workplace since; two breaches of a contact ban. Convicted of "
            "assault on a former partner (2021). Hard-to-control anger."
        ),
        has_weapons=True,
        weapons="Registered hunting rifle (kept at his home, Drongen); has shown a knife.",
    ),
)


async def seed_demo(
    store: Store, *, device_id: int, key: bytes, phone_token: str, operator_token: str
) -> dict[str, Any]:
    """Create (or complete) the Ghent demo case and everything an alarm from it needs:
    the device, its phone, an operator, the demo zones, the magistrate's address.

    Returns the ids: `case_id`, `case_reference`, `person_id`, `device_id` (int),
    `phone_id`, `operator_id`, and `created` (False when the case existed already).
    """
    if len(key) != 32:
        raise ValueError(f"a device key has 32 bytes, not {len(key)}")
    case = await store.create_case(DEMO_CASE)
    person_id = case.person_ids[0]
    await store.register_device(device_id, key, person_id)
    phone_id = await store.link_phone(hash_token(phone_token), person_id, device_id)
    operator_id = await store.add_operator(DEMO_OPERATOR, hash_token(operator_token), CIC_OPERATOR)
    for area, district in zones.demo_areas():
        await store.add_zone_area(area, district)
    await store.set_magistrate_email(DEMO_CASE.judicial_district, DEMO_MAGISTRATE)
    return {
        "case_id": case.case_id,
        "case_reference": DEMO_CASE.reference,
        "person_id": person_id,
        "device_id": device_id,
        "phone_id": phone_id,
        "operator_id": operator_id,
        "created": case.created,
    }
