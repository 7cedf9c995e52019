"""Seeding the demo case: idempotent, and the command prints what a demo needs."""

from __future__ import annotations

import asyncio
import json

from msa.backend.auth import hash_token
from msa.backend.seed import seed_demo
from msa.cli import main
from tests.backend.conftest import count_rows
from tests.backend.util import DEVICE_ID, KEY, OPERATOR_TOKEN, PHONE_TOKEN


async def test_seeding_twice_duplicates_nothing(store):
    first = await seed_demo(
        store, device_id=DEVICE_ID, key=KEY, phone_token=PHONE_TOKEN, operator_token=OPERATOR_TOKEN
    )
    assert first["created"] is True
    counts = await store.counts()
    assert {k: counts[k] for k in ("cases", "persons", "devices", "phones", "operators")} == {
        "cases": 1,
        "persons": 2,  # she and her daughter
        "devices": 1,
        "phones": 1,
        "operators": 1,
    }
    again = await seed_demo(
        store, device_id=DEVICE_ID, key=KEY, phone_token=PHONE_TOKEN, operator_token=OPERATOR_TOKEN
    )
    assert again == {**first, "created": False}
    assert await store.counts() == counts


async def test_seeding_again_with_new_secrets_rotates_them(store):
    args = {"device_id": DEVICE_ID, "phone_token": PHONE_TOKEN, "operator_token": OPERATOR_TOKEN}
    await seed_demo(store, key=KEY, **args)
    counts = await store.counts()
    new = {"phone_token": "new-phone", "operator_token": "new-operator"}
    await seed_demo(store, device_id=DEVICE_ID, key=bytes(32), **new)
    assert await store.counts() == counts
    old = await store.ingest_context(hash_token(PHONE_TOKEN), DEVICE_ID)
    assert old.token_epoch == 0 and old.device.key_status == "retired"  # its frames drain
    context = await store.ingest_context(hash_token("new-phone"), DEVICE_ID)
    assert context.token_epoch == 1 and context.device.mac_key == bytes(32)
    assert await store.operator_by_token(hash_token("new-operator")) is not None


def test_seed_demo_command_prints_the_device_and_tokens(database_url, kek_file, capsys):
    command = ["backend", "seed-demo", "--db", database_url, "--kek-file", str(kek_file)]
    for _ in range(2):
        assert main([*command, "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
    assert printed["device_id"] == "00c0ffee"
    assert len(bytes.fromhex(printed["key"])) == 32
    assert printed["phone_token"] and printed["operator_token"]
    assert printed["console_login"].startswith("/console/login?code=")
    assert printed["operator_token"] not in printed["console_login"]
    counts = asyncio.run(count_rows(database_url))
    assert (counts["cases"], counts["devices"], counts["phones"], counts["operators"]) == (
        1,
        1,
        1,
        1,
    )
