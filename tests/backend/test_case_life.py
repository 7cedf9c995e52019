"""A case's life (msa/backend/case_life.py, store/case_life.py, `msa case`): the
dates across month ends and 29 February, what is due when, stays, and the whole
way from a request to the end on both engines, each step in the evidence; every
refused step changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from msa.backend.auth import hash_token
from msa.backend.case_life import (
    extended,
    judge_stay,
    measure_end,
    months_after,
    registration_line,
    tasks,
)
from msa.backend.evidence import broken
from msa.cli import main
from tests.backend.util import DEVICE_ID, PHONE, body, signed

D = dt.date
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "case.json"
REF = "GE.60.L1.077777/26"


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (D(2026, 5, 31), 9, D(2027, 2, 28)),  # to a short February
        (D(2027, 5, 31), 9, D(2028, 2, 29)),  # to a leap day
        (D(2028, 2, 29), 9, D(2028, 11, 29)),  # from one
        (D(2028, 2, 29), 12, D(2029, 2, 28)),  # a leap day a year on
        (D(2026, 8, 31), 3, D(2026, 11, 30)),
        (D(2026, 4, 30), 9, D(2027, 1, 30)),
        (D(2026, 11, 30), -1, D(2026, 10, 30)),
        (D(2027, 3, 31), -1, D(2027, 2, 28)),
    ],
)
def test_whole_months_clamp_to_the_month_s_end(start, months, end):
    assert months_after(start, months) == end


def test_the_measure_runs_nine_months_and_an_extension_adds_nine_from_its_end():
    assert measure_end(D(2026, 5, 31)) == D(2027, 2, 28)
    assert extended(D(2027, 2, 28), D(2026, 12, 1)) == D(2027, 11, 28)
    # Decided after the measure ran out: nine months from the decision.
    assert extended(D(2027, 2, 28), D(2027, 3, 10)) == D(2027, 12, 10)


def test_what_is_due_a_revisit_every_three_months_a_reevaluation_the_month_before_the_end():
    decided, ends = D(2026, 5, 31), D(2027, 2, 28)
    assert tasks(decided, ends, None, None, D(2026, 8, 30)) == []
    (revisit,) = tasks(decided, ends, None, None, D(2026, 8, 31))
    assert (revisit.kind, revisit.due_on) == ("revisit", D(2026, 8, 31))
    assert tasks(decided, ends, D(2026, 8, 31), None, D(2026, 11, 29)) == []
    assert [t.kind for t in tasks(decided, ends, D(2026, 12, 1), None, D(2027, 1, 27))] == []
    (reevaluation,) = tasks(decided, ends, D(2026, 12, 1), None, D(2027, 1, 28))
    assert (reevaluation.kind, reevaluation.due_on) == ("reevaluation", D(2027, 1, 28))
    assert tasks(decided, ends, D(2026, 12, 1), D(2027, 2, 1), D(2027, 2, 10)) == []
    (expired,) = tasks(decided, ends, D(2027, 2, 1), D(2027, 2, 1), D(2027, 2, 28))
    assert expired.kind == "expired"


@pytest.mark.parametrize(
    ("starts", "ends", "announced", "country", "outcome"),
    [
        (D(2026, 12, 10), D(2026, 12, 15), D(2026, 12, 3), "BE", "accepted"),  # 5 nights, 7 days
        (D(2026, 12, 10), D(2026, 12, 15), D(2026, 12, 4), "BE", "refused"),  # 6 days ahead
        (D(2026, 12, 10), D(2026, 12, 14), D(2026, 12, 9), "BE", "accepted"),  # 4 nights
        (D(2027, 3, 1), D(2027, 3, 6), D(2027, 2, 22), "be", "accepted"),  # across February
        (D(2026, 12, 10), D(2026, 12, 20), D(2026, 11, 1), "FR", "abroad"),
    ],
)
def test_a_stay_of_five_nights_or_more_needs_seven_days_notice(
    starts, ends, announced, country, outcome
):
    decision = judge_stay(starts, ends, announced, country)
    assert decision.outcome == outcome
    if outcome == "refused":
        assert "7 calendar days" in decision.reason and "6 days ahead" in decision.reason


@pytest.mark.parametrize(
    ("starts", "ends", "announced"),
    [
        (D(2026, 12, 10), D(2026, 12, 10), D(2026, 12, 1)),
        (D(2026, 12, 10), D(2026, 12, 12), D(2026, 12, 11)),
    ],
)
def test_a_stay_that_makes_no_sense_is_refused_with_why(starts, ends, announced):
    with pytest.raises(ValueError):
        judge_stay(starts, ends, announced, "BE")


def test_the_prosecutor_s_registrations_are_in_the_circular_s_words():
    assert registration_line("grant", D(2026, 11, 28)) == "stalkingalarm beslist op 28/11/2026"
    assert registration_line("extension", D(2027, 3, 1)) == (
        "verlenging stalkingalarm beslist op 01/03/2027"
    )
    assert registration_line("end", D(2027, 3, 2)) == "stalkingalarm beëindigd op 02/03/2027"


# -- the whole way, on both engines ------------------------------------------------


def msa(*args: str) -> int:
    """`msa ARGS`' exit code (argparse's refusals exit 2)."""
    try:
        return main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def case_file(tmp_path: Path) -> Path:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["reference"] = REF
    data["managing_zone"] = "PZ Gent"
    data["judicial_district"] = "Oost-Vlaanderen"
    path = tmp_path / "request.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


async def test_from_request_to_end_each_step_checked_and_in_the_evidence(
    backend, database_url, tmp_path, capsys
):
    store = backend.store

    async def case(*args: str) -> int:
        return await _run(msa, "case", *args, "--db", database_url)

    path = case_file(tmp_path)
    assert await case("request", str(path), "--by", "police", "--on", "2026-11-20") == 0
    assert await case("request", str(path), "--by", "person", "--on", "2026-11-20") == 2
    # No decision before the risk assessment.
    assert await case("decide", REF, "--grant", "--on", "2026-11-21") == 2
    assert await store.case_life(REF) is None
    assert await case("assess", REF, "--yes", "fears_for_life,threats,weapons") == 0
    assert await case("assess", REF, "--yes", "nonsense") == 2
    # Refused, then revisited and granted.
    refuse = ("decide", REF, "--refuse", "--on", "2026-11-21", "--note", "too early")
    assert await case(*refuse) == 0
    assert await store.case_life(REF) is None
    assert await case("decide", REF, "--grant", "--on", "2026-11-30") == 0
    assert await case("decide", REF, "--grant", "--on", "2026-12-01") == 2
    case_now = await store.case_life(REF)
    assert case_now is not None and case_now.ends_on == D(2027, 8, 30)
    assert case_now.zone == "PZ Gent"

    # Due on 2027-03-01: the first revisit; then done.
    assert [t.kind for t in case_now.tasks(D(2027, 3, 1))] == ["revisit"]
    assert await case("revisit", REF, "--on", "2027-03-01") == 0
    assert (await store.case_life(REF)).tasks(D(2027, 3, 1)) == []
    nrn = json.loads(path.read_text())["persons"][0]["national_register_number"]
    stay = ("stay", REF, "--person", nrn, "--address", "Zeedijk 1, Oostende")
    late = ("--from", "2027-04-10", "--until", "2027-04-16", "--announced", "2027-04-05")
    assert await case(*stay, *late) == 2  # refused, with the reason, recorded
    early = ("--from", "2027-05-10", "--until", "2027-05-16", "--announced", "2027-05-01")
    assert await case(*stay, *early) == 0
    assert await case("extend", REF, "--on", "2027-06-01", "--reason", "new threats") == 0
    assert (await store.case_life(REF)).ends_on == D(2028, 5, 30)
    assert await case("move", REF, "--zone", "PZ Lochristi") == 0
    assert await case("move", REF, "--zone", "PZ Nowhere") == 2
    assert (await store.case_life(REF)).zone == "PZ Lochristi"
    assert await case("end", REF, "--on", "2027-07-01", "--reason", "danger_gone") == 0
    assert await case("revisit", REF, "--on", "2027-07-02") == 2  # ended
    capsys.readouterr()

    assert await case("show", REF, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "ended" and shown["end_reason"] == "danger_gone"
    assert shown["registrations"] == [
        "stalkingalarm beslist op 30/11/2026",
        "verlenging stalkingalarm beslist op 01/06/2027",
        "stalkingalarm beëindigd op 01/07/2027",
    ]
    entries, head = await store.evidence(case_now.id)
    actions = [json.loads(e.body)["action"] for e in entries]
    assert actions == [
        "case.request", "case.assess", "case.grant", "case.revisit", "case.stay", "case.stay",
        "case.extend", "case.move", "case.end",
    ]  # fmt: skip
    assert broken(entries, head) is None


async def test_the_end_deactivates_the_case_s_button(backend):
    store = backend.store
    ended = await store.end_case("no-such-case", D(2026, 12, 1), "expired", "test", 0)
    assert ended.outcome == "unknown"
    reference = (await store.case_life_by_id(backend.seeded["case_id"])).reference
    ended = await store.end_case(reference, D(2026, 12, 1), "victim_request", "test", 0)
    assert ended.deactivated == (DEVICE_ID,)
    # A press now: the key is revoked, the CIC sees a security event, no alarm.
    answer = await backend.client.post("/api/v1/frames", json=body(signed(1)), headers=PHONE)
    assert answer.status_code == 403 and answer.json()["error"] == "key_revoked"
    again = await store.end_case(reference, D(2026, 12, 2), "victim_request", "test", 0)
    assert again.outcome == "ended"


async def test_the_zone_officer_records_a_revisit_and_renews_a_case_on_the_api(backend):
    store = backend.store
    await store.add_operator("ref-gent", hash_token("officer-gent"), "zone_officer", "PZ Gent")
    await store.add_operator("ref-lo", hash_token("officer-lo"), "zone_officer", "PZ Lochristi")
    gent = {"Authorization": "Bearer officer-gent"}
    case_id = backend.seeded["case_id"]
    client = backend.client
    listed = (await client.get("/api/v1/zone-cases", headers=gent)).json()["cases"]
    assert [c["id"] for c in listed] == [case_id]
    before = listed[0]["ends_on"]
    renewed = await client.post(
        f"/api/v1/cases/{case_id}/extend", json={"reason": "new facts"}, headers=gent
    )
    assert renewed.status_code == 200 and renewed.json()["case"]["ends_on"] > before
    other = await client.post(
        f"/api/v1/cases/{case_id}/revisit", json={}, headers={"Authorization": "Bearer officer-lo"}
    )
    assert other.status_code == 404
    audit = await store.audit_trail(case_id)
    assert any(e.action == "case.read" and e.actor.startswith("operator:") for e in audit)


async def _run(function, *args: str) -> int:
    """A command of the CLI, in a thread (it runs its own event loop)."""
    return await asyncio.to_thread(function, *args)
