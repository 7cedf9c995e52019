"""The inventory on the web (msa/backend/inventory_page.py): the page and its JSON
say what `msa inventory` says; a district's name is shown as text, never as markup;
only the tech desk sees either (docs/roles.md)."""

from __future__ import annotations

import pytest

from msa.backend.auth import hash_token
from tests.backend.util import OPERATOR

TECH_DESK = {"Authorization": "Bearer tech-desk-token"}

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
async def tech_desk(backend):
    await backend.store.add_operator("desk", hash_token("tech-desk-token"), "tech_desk")


async def test_the_page_and_the_json_show_each_districts_buttons(backend):
    store = backend.store
    await store.inventory_add("Oost-Vlaanderen", [0x0BADF00D, 0x0BADF00E])
    await store.set_min_stock("Oost-Vlaanderen", 3)
    await store.inventory_move(0x0BADF00E, "repair", "cracked case")
    await store.inventory_add(HOSTILE, [0x0BADF00F])

    answer = await backend.client.get("/api/v1/inventory", headers=TECH_DESK)

    assert answer.status_code == 200
    rows = {row["district"]: row for row in answer.json()["districts"]}
    assert rows["Oost-Vlaanderen"] == {
        "district": "Oost-Vlaanderen", "stock": 1, "assigned": 0, "repair": 1,
        "returned": 0, "lost": 0, "min_stock": 3, "short": True,
    }  # fmt: skip
    page = await backend.client.get("/inventory", headers=TECH_DESK)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "short: order buttons" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


async def test_nobody_else_sees_it(backend):
    await backend.store.inventory_add("Oost-Vlaanderen", [0x0BADF00D])
    for path in ("/api/v1/inventory", "/inventory"):
        for headers, status in (({"Authorization": "Bearer nobody"}, 401), (OPERATOR, 403)):
            answer = await backend.client.get(path, headers=headers)
            assert answer.status_code == status
            assert "Oost-Vlaanderen" not in answer.text
