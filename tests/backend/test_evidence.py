"""The evidence log (msa/backend/evidence.py, store/evidence.py), on both engines:
an alarm, its operator steps and its location fixes go into the case's chain, in
that order; the log refuses changes; a row altered or removed afterwards (by
someone who can drop the database's guard) is found; the export a magistrate gets
verifies anywhere, and an export altered or cut short does not."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from msa.backend.evidence import GENESIS, broken, canonical, link
from msa.backend.seed import DEMO_CASE
from msa.cli import main
from tests.backend.util import OPERATOR, PHONE, body, signed

DROP_GUARD = {
    "sqlite": ("DROP TRIGGER evidence_no_update", "DROP TRIGGER evidence_no_delete"),
    "postgresql": ("DROP TRIGGER evidence_no_change ON evidence",),
}


async def an_alarm_worked(backend) -> int:
    """A press, acknowledged, with a fix from the phone: the case's first facts."""
    client = backend.client
    answer = await client.post("/api/v1/frames", json=body(signed(1)), headers=PHONE)
    alarm_id = answer.json()["alarm_id"]
    step = await client.post(f"/api/v1/alarms/{alarm_id}/acknowledge", json={}, headers=OPERATOR)
    assert step.status_code == 200, step.text
    fix = {"lat": 51.05, "lon": 3.72, "accuracy_m": 5, "fix_at": "2026-11-23T19:03:10Z"}
    located = await client.post(f"/api/v1/alarms/{alarm_id}/locations", json=fix, headers=PHONE)
    assert located.status_code == 200, located.text
    return alarm_id


async def chain_of(backend) -> tuple[list, tuple[int, str]]:
    case = await backend.store.find_case(DEMO_CASE.reference)
    return await backend.store.evidence(case.case_id)


async def test_an_alarm_its_step_and_its_fix_are_chained_in_order(backend):
    alarm_id = await an_alarm_worked(backend)

    entries, head = await chain_of(backend)

    assert [e.kind for e in entries] == ["alarm", "audit", "fix"]
    facts = [json.loads(e.body) for e in entries]
    assert facts[0]["alarm_id"] == alarm_id and facts[0]["kind"] == "alarm"
    assert facts[1]["action"] == "alarm.acknowledge"
    assert (facts[2]["alarm_id"], facts[2]["lat"]) == (alarm_id, 51.05)
    assert broken(entries, head) is None and head == (3, entries[-1].hash)
    assert entries[0].prev_hash == GENESIS
    assert entries[1].hash == link(entries[0].hash, 2, entries[1].at, "audit", entries[1].body)
    # What is the audit trail's, not a fact of the case, stays out: the console's read.
    await backend.client.get(f"/api/v1/alarms/{alarm_id}", headers=OPERATOR)
    assert len((await chain_of(backend))[0]) == 3


async def test_an_alarm_nobody_acted_on_is_chained_by_the_catch_up(backend):
    answer = await backend.client.post("/api/v1/frames", json=body(signed(1)), headers=PHONE)
    assert answer.status_code == 200
    await backend.store.chain_evidence()  # what the backend's chainer runs
    await backend.store.chain_evidence()  # again: nothing twice
    entries, head = await chain_of(backend)
    assert [e.kind for e in entries] == ["alarm"] and broken(entries, head) is None


async def test_the_log_refuses_changes_and_a_change_made_past_its_guard_is_found(backend):
    await an_alarm_worked(backend)
    store = backend.store
    for change in ("UPDATE evidence SET body = '{}' WHERE seq = 2", "DELETE FROM evidence"):
        with pytest.raises(Exception, match="append-only"):
            async with store._transaction() as conn:  # noqa: SLF001 (a test goes underneath)
                await conn.execute(change)
    assert broken(*await chain_of(backend)) is None

    # Someone who can drop the guard removes the last entry (the fix), then alters
    # the step's, then removes the first (the alarm): the chain says each time.
    async with store._transaction() as conn:  # noqa: SLF001
        for statement in DROP_GUARD[store.dialect]:
            await conn.execute(statement)
        await conn.execute("DELETE FROM evidence WHERE seq = 3")
    assert broken(*await chain_of(backend)) == (
        "the chain ends at entry 2, its head is entry 3: entries were removed"
    )
    forged = canonical({"actor": "operator:1", "action": "alarm.close", "subject": "x",
                        "detail": None})  # fmt: skip
    async with store._transaction() as conn:  # noqa: SLF001
        await conn.execute("UPDATE evidence SET body = $1 WHERE seq = 2", forged)
    assert broken(*await chain_of(backend)) == (
        "entry 2 was altered: its hash does not match what it says"
    )
    async with store._transaction() as conn:  # noqa: SLF001
        await conn.execute("DELETE FROM evidence WHERE seq = 1")
    assert broken(*await chain_of(backend)) == (
        "entry 1 is missing (the chain goes on with entry 2)"
    )


async def test_the_export_verifies_anywhere_and_an_altered_copy_does_not(
    backend, database_url: str, tmp_path: Path, capsys
):
    await an_alarm_worked(backend)
    out = tmp_path / "evidence.jsonl"
    ref = DEMO_CASE.reference
    export = ["evidence", "export", "--case", ref, "--out", str(out), "--db", database_url]

    assert await asyncio.to_thread(main, [*export, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["entries"], done["case"]) == (3, ref)
    assert main(["evidence", "verify", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["intact"] is True
    assert await asyncio.to_thread(main, ["evidence", "verify", "--case", ref, "--db",
                                          database_url]) == 0  # fmt: skip
    assert "the chain is intact" in capsys.readouterr().out

    lines = out.read_text().splitlines()
    altered = tmp_path / "altered.jsonl"
    altered.write_text("\n".join([*lines[:3], lines[3].replace("51.05", "51.06")]) + "\n")
    assert main(["evidence", "verify", str(altered)]) == 1
    assert "BROKEN: entry 3 was altered" in capsys.readouterr().out
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:3]) + "\n")
    assert main(["evidence", "verify", str(cut)]) == 1
    assert "entries were removed" in capsys.readouterr().out

    # Never over a file, never for an unknown case, one thing to verify at a time.
    assert await asyncio.to_thread(main, export) == 2
    assert "exists: give a new file name" in capsys.readouterr().err
    unknown = ["evidence", "export", "--case", "XX", "--out", str(tmp_path / "n"), "--db",
               database_url]  # fmt: skip
    assert await asyncio.to_thread(main, unknown) == 2
    assert "no case 'XX'" in capsys.readouterr().err
    assert main(["evidence", "verify", str(out), "--case", ref]) == 2
    not_an_export = tmp_path / "case.json"
    not_an_export.write_text('{"reference": "x"}\n')
    assert main(["evidence", "verify", str(not_an_export)]) == 2
    assert "is not an msa evidence export" in capsys.readouterr().err


async def test_the_documented_check_without_msa_agrees(backend, database_url: str, tmp_path):
    """docs/backend.md's ten lines of Python, run on an export and on an altered copy."""
    await an_alarm_worked(backend)
    out = tmp_path / "evidence.jsonl"
    export = ["evidence", "export", "--case", DEMO_CASE.reference, "--out", str(out),
              "--db", database_url]  # fmt: skip
    assert await asyncio.to_thread(main, export) == 0
    guide = (Path(__file__).resolve().parents[2] / "docs" / "backend.md").read_text()
    section = guide[guide.index("## Evidence") :]
    [check] = re.findall(r"```python\n(.*?)```", section[: section.index("## The schema")], re.S)

    exec(check.replace("GE-012345.jsonl", str(out)), {})  # noqa: S102 (the guide's own code)

    lines = out.read_text().splitlines()
    out.write_text("\n".join([*lines[:2], lines[2].replace("acknowledge", "close"), *lines[3:]]))
    with pytest.raises(AssertionError, match="entry 2 altered"):
        exec(check.replace("GE-012345.jsonl", str(out)), {})  # noqa: S102
