"""Roles and access (docs/roles.md), on both engines: each role reaches its own work
and nobody else's; the magistrate decides their district's requests; victim support
reads confidential addresses; every case read is audited."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from msa.backend.auth import hash_token
from msa.backend.case_life import RISK_KEYS
from msa.backend.seed import DEMO_CASE

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "case.json"
TOKENS = {
    "cic": "Bearer operator-token-of-the-cic",
    "zone": "Bearer zone-officer",
    "magistrate": "Bearer magistrate",
    "other_magistrate": "Bearer magistrate-antwerpen",
    "desk": "Bearer tech-desk",
    "support": "Bearer victim-support",
}
# Each role's own reads; every other role is refused them.
OWN = {
    "cic": ["/console", "/api/v1/zones"],
    "zone": ["/zone", "/api/v1/zone-cases", "/api/v1/zone-reports"],
    "magistrate": ["/magistrate", "/api/v1/requests"],
    "desk": ["/inventory", "/api/v1/inventory"],
    "support": ["/support", "/api/v1/support/cases"],
}


@pytest.fixture
async def people(backend):
    store = backend.store
    district = DEMO_CASE.judicial_district
    await store.add_operator("ref", hash_token("zone-officer"), "zone_officer", "PZ Gent")
    await store.add_operator("mag", hash_token("magistrate"), "magistrate", district=district)
    await store.add_operator(
        "mag-a", hash_token("magistrate-antwerpen"), "magistrate", district="Antwerpen"
    )
    await store.add_operator("desk", hash_token("tech-desk"), "tech_desk")
    await store.add_operator(
        "vs", hash_token("victim-support"), "victim_support", district=district
    )
    return {name: {"Authorization": token} for name, token in TOKENS.items()}


async def test_each_role_reaches_its_own_work_only(backend, people):
    for role, paths in OWN.items():
        for path in paths:
            for other in OWN:
                answer = await backend.client.get(path, headers=people[other])
                wanted = 200 if other == role else 403
                assert answer.status_code == wanted, (path, other, answer.text[:200])


async def test_the_magistrate_decides_their_district_s_requests_only(backend, people):
    store = backend.store
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data.update(reference="REQ-1", managing_zone="PZ Gent",
                judicial_district=DEMO_CASE.judicial_district)  # fmt: skip
    await store.request_case("REQ-1", "person", dt.date(2026, 11, 20), "PZ Gent",
                             DEMO_CASE.judicial_district, json.dumps(data), "test", 0)  # fmt: skip
    client = backend.client
    (request,) = (await client.get("/api/v1/requests", headers=people["magistrate"])).json()[
        "requests"
    ]
    assert request["reference"] == "REQ-1" and request["risk"] is None
    decide = f"/api/v1/requests/{request['id']}/decide"
    early = await client.post(decide, json={"decision": "grant"}, headers=people["magistrate"])
    assert early.status_code == 409 and early.json()["error"] == "not_assessed"
    await store.assess_risk("REQ-1", dict.fromkeys(RISK_KEYS, False), "test", 0)
    elsewhere = await client.post(
        decide, json={"decision": "grant"}, headers=people["other_magistrate"]
    )
    assert elsewhere.status_code == 404
    silent = await client.post(decide, json={"decision": "refuse"}, headers=people["magistrate"])
    assert silent.status_code == 400  # a refusal says why
    refused = await client.post(
        decide, json={"decision": "refuse", "note": "no risk factor"}, headers=people["magistrate"]
    )
    assert refused.json()["decision"] == "refused" and await store.case_life("REQ-1") is None
    granted = await client.post(
        decide, json={"decision": "grant", "on": "2026-11-30"}, headers=people["magistrate"]
    )
    assert granted.json() == {"request": "REQ-1", "decision": "granted", "ends_on": "2027-08-30"}
    listing = (await client.get("/api/v1/requests", headers=people["magistrate"])).json()
    assert listing["requests"] == []
    assert "REQ-1" in [case["reference"] for case in listing["cases"]]


async def test_victim_support_reads_confidential_addresses_and_each_read_is_audited(
    backend, people
):
    async with backend.store._transaction() as conn:  # noqa: SLF001 (the case's setting)
        await conn.execute("UPDATE persons SET confidential = TRUE")
    client = backend.client
    cases = (await client.get("/api/v1/support/cases", headers=people["support"])).json()["cases"]
    (case,) = [c for c in cases if c["reference"] == DEMO_CASE.reference]
    person = case["persons"][0]
    assert person["confidential"] and person["name"] == DEMO_CASE.persons[0].full_name
    assert person["addresses"][0]["address"] == DEMO_CASE.persons[0].addresses[0].address
    page = await client.get("/support", headers=people["support"])
    assert "(confidential)" in page.text and DEMO_CASE.persons[0].addresses[0].address in page.text
    # The CIC sees the confidential person by number only, and the zone's report too.
    trail = await backend.store.audit_trail(case["id"])
    reads = [e for e in trail if e.action == "case.read"]
    assert len(reads) == 2 and {e.actor for e in reads} == {reads[0].actor}
