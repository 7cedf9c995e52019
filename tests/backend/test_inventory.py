"""The tech desk's inventory per judicial district (msa/backend/inventory.py), on
both engines: buttons enter stock, provisioning assigns them, revocation loses
them, and a move the inventory refuses changes nothing."""

from __future__ import annotations

import pytest

from msa.backend.auth import hash_token
from msa.backend.inventory import InventoryError
from msa.backend.store.base import CaseDraft, PersonDraft, ZoneArea
from msa.backend.zones import locate
from msa.errors import UsageError

GHENT, BRUGES = "Oost-Vlaanderen", "West-Vlaanderen"


def case(reference: str, district: str, persons: int = 1) -> CaseDraft:
    return CaseDraft(
        reference=reference,
        decided_on="2026-11-02",
        managing_zone=f"PZ {district}",
        judicial_district=district,
        persons=tuple(
            PersonDraft(f"Person {n}", "+32 470 00 00 00", f"90.01.0{n}-001.0{n}")
            for n in range(1, persons + 1)
        ),
    )


async def provision(store, device_id: int, person_id: int, token: str) -> int:
    return await store.provision_device(device_id, bytes(32), person_id, hash_token(token))


def counts(stocks, district: str) -> dict[str, int]:
    [found] = [d for d in stocks if d.district == district]
    return found.counts


async def test_a_button_goes_from_stock_to_a_person_and_is_counted_per_district(store):
    assert await store.inventory_add(GHENT, [1, 2, 3]) == [1, 2, 3]
    assert await store.inventory_add(GHENT, [1]) == []  # there already: no change
    assert await store.inventory_add(BRUGES, [4]) == [4]
    ids = await store.create_case(case("GE.60.L1.000001/26", GHENT, persons=2))

    await provision(store, 1, ids.person_ids[0], "t1")
    await provision(store, 1, ids.person_ids[0], "t2")  # re-provisioning: still hers
    stocks = await store.inventory_counts()
    assert [d.district for d in stocks] == [GHENT, BRUGES]
    assert counts(stocks, GHENT) == {
        "stock": 2, "assigned": 1, "repair": 0, "returned": 0, "lost": 0
    }  # fmt: skip
    assert counts(stocks, BRUGES)["stock"] == 1

    # Another person's button is not hers to take: refused, and nothing changes.
    before = await store.counts()
    with pytest.raises(InventoryError, match="assigned to another person .case GE.60"):
        await provision(store, 1, ids.person_ids[1], "t3")
    assert await store.counts() == before
    assert counts(await store.inventory_counts(), GHENT)["assigned"] == 1


async def test_a_button_not_in_the_inventory_is_assigned_in_its_cases_district(store):
    ids = await store.create_case(case("BR.12.L3.000002/26", BRUGES))
    await provision(store, 9, ids.person_ids[0], "t")
    assert counts(await store.inventory_counts(BRUGES), BRUGES)["assigned"] == 1


async def test_revoking_loses_the_button_and_its_person_gets_a_replacement_board(store):
    await store.inventory_add(GHENT, [5])
    ids = await store.create_case(case("GE.60.L1.000003/26", GHENT, persons=2))
    await provision(store, 5, ids.person_ids[0], "t1")
    await store.revoke_device(5, "stolen")
    assert counts(await store.inventory_counts(), GHENT)["lost"] == 1
    with pytest.raises(InventoryError, match="device 00000005 is lost: take a button"):
        await provision(store, 5, ids.person_ids[1], "t2")
    with pytest.raises(InventoryError, match="a lost button stays lost"):
        await store.inventory_move(5, "stock", "found it")
    await provision(store, 5, ids.person_ids[0], "t3")  # her replacement, same id
    assert counts(await store.inventory_counts(), GHENT)["assigned"] == 1


async def test_moves_between_stock_repair_and_returned_only(store):
    await store.inventory_add(GHENT, [6])
    assert await store.inventory_move(6, "repair", "cracked case")
    assert not await store.inventory_move(6, "repair", "")
    assert await store.inventory_add(GHENT, [6]) == [6]  # back from repair
    with pytest.raises(InventoryError, match="not in the inventory: msa inventory add"):
        await store.inventory_move(7, "repair", "")
    ids = await store.create_case(case("GE.60.L1.000004/26", GHENT))
    await provision(store, 6, ids.person_ids[0], "t")
    for to in ("stock", "returned"):
        with pytest.raises(InventoryError, match="msa decommission --port PORT --device-id"):
            await store.inventory_move(6, to, "")
    with pytest.raises(InventoryError, match="cannot go back to stock: msa decommission it"):
        await store.inventory_add(GHENT, [6])


async def test_a_district_under_its_reorder_level_is_short(store):
    await store.inventory_add(GHENT, [10, 11])
    await store.set_min_stock(GHENT, 3)
    [ghent] = await store.inventory_counts(GHENT)
    assert (ghent.min_stock, ghent.short) == (3, True)
    await store.inventory_add(GHENT, [12])
    assert not (await store.inventory_counts(GHENT))[0].short
    for wrong in (-1, 10_001):
        with pytest.raises(InventoryError, match="--min is 0 to 10000"):
            await store.set_min_stock(GHENT, wrong)
    with pytest.raises(InventoryError, match="1 to 80 characters"):
        await store.inventory_add(" ", [13])
    assert await store.inventory_counts("Nowhere") == []


async def pending_mails(store) -> list[str]:
    return [n.subject for n in await store.due_notifications(2**62) if n.alarm_id is None]


async def test_a_shortage_is_mailed_once_until_the_stock_is_back(store):
    await store.inventory_add(GHENT, [20, 21])
    await store.set_magistrate_email(GHENT, "magistrate@gent.example")
    await store.set_min_stock(GHENT, 2)
    assert await pending_mails(store) == []  # two in stock: at the level
    ids = await store.create_case(case("GE.60.L1.000005/26", GHENT, persons=2))

    await provision(store, 20, ids.person_ids[0], "t1")
    [subject] = await pending_mails(store)
    assert subject == f"Stalkingalarm {GHENT}: 1 button(s) in stock, under the level of 2"
    [mail] = [n for n in await store.due_notifications(2**62) if n.alarm_id is None]
    assert mail.recipient == "magistrate@gent.example"
    await provision(store, 21, ids.person_ids[1], "t2")  # still short: no second mail
    assert len(await pending_mails(store)) == 1

    await store.inventory_add(GHENT, [22, 23])  # back at the level
    await store.inventory_move(22, "repair", "")  # short again: a new shortage
    assert len(await pending_mails(store)) == 2


async def test_a_decommissioned_button_serves_its_next_case_under_a_new_key(store):
    first = await store.create_case(case("GE.60.L1.000006/26", GHENT))
    second = await store.create_case(case("GE.60.L1.000007/26", GHENT))
    await store.inventory_add(GHENT, [30])
    assert await provision(store, 30, first.person_ids[0], "old-token") == 0
    assert await store.decommission_device(0x7E, "stock", "tech-desk") is None  # no such device

    done = await store.decommission_device(30, "stock", "tech-desk")
    assert (done.case_reference, done.keys_revoked, done.tokens_revoked) == (
        "GE.60.L1.000006/26", 1, 1
    )  # fmt: skip
    assert await store.phone_by_token(hash_token("old-token")) is None
    again = await store.decommission_device(30, "repair", "tech-desk")
    assert (again.done_now, again.state) == (False, "stock")  # nothing changed
    [entry] = [e for e in await store.audit_trail(first.case_id) if e.action.startswith("device.")]
    assert entry.action == "device.decommissioned" and "1 key(s)" in entry.detail
    assert counts(await store.inventory_counts(GHENT), GHENT)["stock"] == 1

    assert await provision(store, 30, second.person_ids[0], "new-token") == 1
    assert counts(await store.inventory_counts(GHENT), GHENT)["assigned"] == 1


async def test_a_zone_stays_in_its_district_and_locates_an_alarm(store):
    gent = ZoneArea("PZ Gent", 50.98, 3.58, 51.19, 3.85)
    await store.add_zone_area(gent, "Oost-Vlaanderen")
    await store.add_zone_area(gent, "Oost-Vlaanderen")  # the same box: nothing new
    with pytest.raises(UsageError, match="is in the judicial district Oost-Vlaanderen"):
        await store.add_zone_area(ZoneArea("PZ Gent", 50, 4, 50.1, 4.1), "Brussel")
    areas = await store.zone_areas()
    assert areas == [gent]
    assert locate(areas, 51.05, 3.72) == "PZ Gent" and locate(areas, 50.05, 4.05) is None
    assert [row.district for row in await store.inventory_counts()] == ["Oost-Vlaanderen"]
