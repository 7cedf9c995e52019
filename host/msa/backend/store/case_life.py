"""The store's side of a case's life (msa/backend/case_life.py has the rules).

Each step is one transaction that checks, changes and writes its audit entry into
the case's evidence; a step refused (an unknown case, an ended one) changes
nothing. A request has no case yet: its steps are audited without one, and chained
into the case's evidence when the magistrate grants it.
"""

from __future__ import annotations

import datetime as dt
import json
from abc import abstractmethod
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal

from msa.backend.case_life import (
    RISK_KEYS,
    CaseLife,
    Decided,
    Ended,
    EndReason,
    MoveOutcome,
    RequestedBy,
    RequestOutcome,
    RequestView,
    StayDecision,
    StepOutcome,
    SupportCase,
    SupportPerson,
    extended,
    judge_stay,
    measure_end,
    registration_line,
)
from msa.backend.cases import draft_from_json
from msa.backend.store.base import AuditEntry
from msa.backend.store.evidence import audit_as_evidence
from msa.backend.store.queries import Row
from msa.backend.store.sql import Connection, fetchrow, insert_audit, insert_case
from msa.backend.store.workflow import belgian_day

_CASE = """
SELECT c.id, c.reference, c.status, z.name AS zone, z.id AS zone_id, c.decided_on, c.ends_on,
       c.ended_on, c.end_reason, c.support_started_on, c.cic_watch,
       (SELECT max(r.on_day) FROM case_reviews r WHERE r.case_id = c.id
          AND r.kind = 'revisit') AS last_revisit,
       (SELECT max(r.on_day) FROM case_reviews r WHERE r.case_id = c.id
          AND r.kind = 'reevaluation') AS last_reevaluation
FROM cases c JOIN police_zones z ON z.id = c.managing_zone_id"""


_REQUEST = """
SELECT r.id, r.reference, r.requested_by, r.requested_on, r.managing_zone AS zone,
       r.judicial_district AS district, r.risk, r.decision, r.decided_on, r.decision_note AS note
FROM case_requests r JOIN judicial_districts jd ON jd.name = r.judicial_district"""


def _request(row: Any) -> RequestView:
    values = dict(row)
    values["risk"] = None if row["risk"] is None else json.loads(row["risk"])
    return RequestView(**values)


def _day(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


class CaseLifeSql:
    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    if TYPE_CHECKING:

        def _reading(self, urgent: bool = False) -> AbstractAsyncContextManager[Connection]: ...

    # -- the request --------------------------------------------------------------

    async def request_case(
        self, reference: str, requested_by: RequestedBy, requested_on: dt.date,
        zone: str, district: str, draft: str, actor: str, at: int,
    ) -> RequestOutcome:  # fmt: skip
        async with self._transaction() as conn:
            if await fetchrow(conn, "SELECT id FROM cases WHERE reference = $1", reference):
                return "exists"
            row = await fetchrow(
                conn,
                "INSERT INTO case_requests (reference, requested_by, requested_on, managing_zone,"
                " judicial_district, draft, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (reference) DO NOTHING RETURNING id",
                reference, requested_by, requested_on.isoformat(), zone, district, draft, at,
            )  # fmt: skip
            if row is None:
                return "exists"
            detail = f"requested by {requested_by} on {requested_on}"
            await insert_audit(conn, AuditEntry(at, actor, "case.request", reference, None, detail))
        return "created"

    async def assess_risk(
        self, reference: str, answers: dict[str, bool], actor: str, at: int
    ) -> Literal["done", "unknown", "decided"]:
        if sorted(answers) != sorted(RISK_KEYS):
            raise ValueError(f"the risk assessment answers the eight questions: {RISK_KEYS}")
        async with self._transaction() as conn:
            row = await fetchrow(
                conn, "SELECT decision FROM case_requests WHERE reference = $1", reference
            )
            if row is None:
                return "unknown"
            if row["decision"] == "granted":
                return "decided"
            risk = json.dumps({key: bool(answers[key]) for key in RISK_KEYS})
            await conn.execute(
                "UPDATE case_requests SET risk = $2, assessed_at = $3 WHERE reference = $1",
                reference, risk, at,
            )  # fmt: skip
            yes = sum(answers.values())
            detail = f"{yes} of 8 risk factors: {risk}"
            await insert_audit(conn, AuditEntry(at, actor, "case.assess", reference, None, detail))
        return "done"

    async def decide_request(
        self, reference: str, granted: bool, on: dt.date, note: str, actor: str, at: int
    ) -> Decided:
        async with self._transaction() as conn:
            request = await fetchrow(
                conn,
                "SELECT id, draft, risk, decision, requested_by, requested_on"
                " FROM case_requests WHERE reference = $1",
                reference,
            )
            if request is None:
                return Decided("unknown")
            if request["decision"] == "granted":
                return Decided("already_granted")
            if request["risk"] is None:
                return Decided("not_assessed")
            if not granted:
                await conn.execute(
                    "UPDATE case_requests SET decision = 'refused', decided_on = $2,"
                    " decision_note = $3 WHERE reference = $1",
                    reference, on.isoformat(), note,
                )  # fmt: skip
                detail = f"refused on {on}: {note}"
                entry = AuditEntry(at, actor, "case.refuse", reference, None, detail)
                await insert_audit(conn, entry)
                return Decided("refused")
            ends_on = measure_end(on)
            data = json.loads(request["draft"])
            draft = draft_from_json({**data, "decided_on": on.isoformat(),
                                     "ends_on": ends_on.isoformat()})  # fmt: skip
            ids = await insert_case(conn, draft)
            await conn.execute(
                "UPDATE case_requests SET decision = 'granted', decided_on = $2,"
                " decision_note = $3, case_id = $4 WHERE reference = $1",
                reference, on.isoformat(), note, ids.case_id,
            )  # fmt: skip
            for action, detail in (
                ("case.request", f"requested by {request['requested_by']} on "
                                 f"{request['requested_on']}"),
                ("case.assess", f"risk assessment: {request['risk']}"),
                ("case.grant", f"{registration_line('grant', on)}; ends on {ends_on}. {note}"),
            ):  # fmt: skip
                await audit_as_evidence(
                    conn, AuditEntry(at, actor, action, reference, ids.case_id, detail.strip())
                )
        return Decided("granted", ids.case_id, ends_on)

    # -- the measure's life --------------------------------------------------------

    async def extend_case(
        self, reference: str, on: dt.date, reason: str, actor: str, at: int
    ) -> tuple[StepOutcome, dt.date | None]:
        async with self._transaction() as conn:
            case = await self._active(conn, reference)
            if isinstance(case, str):
                return case, None
            previous = _day(case["ends_on"]) or on
            ends_on = extended(previous, on)
            await conn.execute(
                "UPDATE cases SET ends_on = $2 WHERE id = $1", case["id"], ends_on.isoformat()
            )
            await conn.execute(
                "INSERT INTO measure_extensions (case_id, alarm_id, previous_ends_on, ends_on,"
                " decided_at, decided_on, reason) VALUES ($1, NULL, $2, $3, $4, $5, $6)",
                case["id"], case["ends_on"], ends_on.isoformat(), at, on.isoformat(), reason,
            )  # fmt: skip
            detail = (
                f"{registration_line('extension', on)} (new facts: {reason}); ends on {ends_on}"
            )
            await audit_as_evidence(
                conn, AuditEntry(at, actor, "case.extend", reference, case["id"], detail)
            )
        return "done", ends_on

    async def review_case(
        self, case_id: int, kind: Literal["revisit", "reevaluation"], on: dt.date, note: str,
        actor: str, at: int,
    ) -> StepOutcome:  # fmt: skip
        async with self._transaction() as conn:
            case = await fetchrow(
                conn, "SELECT id, reference, status FROM cases WHERE id = $1", case_id
            )
            if case is None:
                return "unknown"
            if case["status"] != "active":
                return "ended"
            row = await fetchrow(
                conn,
                "INSERT INTO case_reviews (case_id, kind, on_day, note, actor, at)"
                " VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (case_id, kind, on_day) DO NOTHING RETURNING id",
                case_id, kind, on.isoformat(), note, actor, at,
            )  # fmt: skip
            if row is None:
                return "unchanged"
            detail = f"{kind} on {on}" + (f": {note}" if note else "")
            await audit_as_evidence(
                conn, AuditEntry(at, actor, f"case.{kind}", case["reference"], case_id, detail)
            )
        return "done"

    async def add_stay(
        self, reference: str, national_register_number: str, address: str, country: str,
        starts: dt.date, ends: dt.date, announced: dt.date, actor: str, at: int,
    ) -> StayDecision | None:  # fmt: skip
        decision = judge_stay(starts, ends, announced, country)
        async with self._transaction() as conn:
            person = await fetchrow(
                conn,
                "SELECT p.id, c.id AS case_id FROM persons p JOIN cases c ON c.id = p.case_id"
                " WHERE c.reference = $1 AND p.national_register_number = $2"
                " AND c.status = 'active'",
                reference, national_register_number,
            )  # fmt: skip
            if person is None:
                return None
            row = await fetchrow(
                conn,
                "INSERT INTO stays (case_id, person_id, address, country, starts_on, ends_on,"
                " announced_on, outcome, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                " $9, $10) ON CONFLICT (person_id, starts_on, address) DO NOTHING RETURNING id",
                person["case_id"], person["id"], address, country.upper(), starts.isoformat(),
                ends.isoformat(), announced.isoformat(), decision.outcome, decision.reason, at,
            )  # fmt: skip
            if row is None:
                return decision  # announced before: as it was decided then
            if decision.outcome == "accepted":
                await conn.execute(
                    "INSERT INTO addresses (person_id, kind, address, valid_from, valid_until)"
                    " VALUES ($1, 'stay', $2, $3, $4)",
                    person["id"], address, starts.isoformat(), ends.isoformat(),
                )  # fmt: skip
            detail = (
                f"stay {starts} to {ends} ({decision.nights} nights, {country.upper()}), "
                f"announced {announced}: {decision.outcome}. {decision.reason}"
            )
            await audit_as_evidence(
                conn, AuditEntry(at, actor, "case.stay", reference, person["case_id"], detail)
            )
        return decision

    async def move_case(self, reference: str, zone: str, actor: str, at: int) -> MoveOutcome:
        async with self._transaction() as conn:
            case = await self._active(conn, reference)
            if isinstance(case, str):
                return "unknown" if case == "unknown" else "unchanged"
            target = await fetchrow(
                conn, "SELECT id, district_id FROM police_zones WHERE name = $1", zone
            )
            if target is None:
                return "unknown_zone"
            if int(target["id"]) == int(case["managing_zone_id"]):
                return "unchanged"
            await conn.execute(
                "UPDATE cases SET managing_zone_id = $2, district_id = $3 WHERE id = $1",
                case["id"], target["id"], target["district_id"],
            )  # fmt: skip
            # The new zone follows the case now: its open supervision events too.
            await conn.execute(
                "UPDATE supervision_events SET zone_id = $2 WHERE case_id = $1"
                " AND (ended_at IS NULL OR acknowledged_at IS NULL)",
                case["id"], target["id"],
            )  # fmt: skip
            await audit_as_evidence(
                conn,
                AuditEntry(at, actor, "case.move", reference, case["id"],
                           f"managing zone is now {zone}"),
            )  # fmt: skip
        return "done"

    async def end_case(
        self, reference: str, on: dt.date, reason: EndReason, actor: str, at: int
    ) -> Ended:
        async with self._transaction() as conn:
            case = await self._active(conn, reference)
            if isinstance(case, str):
                return Ended(case)
            await conn.execute(
                "UPDATE cases SET status = 'ended', ended_on = $2, end_reason = $3 WHERE id = $1",
                case["id"], on.isoformat(), reason,
            )  # fmt: skip
            buttons = await conn.fetch(
                "SELECT d.device_id FROM devices d JOIN persons p ON p.id = d.person_id"
                " WHERE p.case_id = $1 AND d.status = 'active' ORDER BY d.device_id",
                case["id"],
            )
            deactivated = tuple(int(row["device_id"]) for row in buttons)
            for device_id in deactivated:
                await conn.execute(
                    "UPDATE device_keys SET status = 'revoked', ended_at = $2"
                    " WHERE device_id = $1 AND status = 'active'",
                    device_id, at,
                )  # fmt: skip
                await conn.execute(
                    "UPDATE devices SET status = 'deactivated' WHERE device_id = $1", device_id
                )
            shown = ", ".join(f"{d:08x}" for d in deactivated) or "none"
            detail = (
                f"{registration_line('end', on)}: {reason}; buttons deactivated, to be "
                f"returned to the tech desk: {shown}"
            )
            await audit_as_evidence(
                conn, AuditEntry(at, actor, "case.end", reference, case["id"], detail)
            )
        return Ended("done", deactivated)

    # -- reading ---------------------------------------------------------------------

    async def case_life(self, reference: str) -> CaseLife | None:
        return await self._case_life("c.reference = $1", reference)

    async def case_life_by_id(self, case_id: int) -> CaseLife | None:
        return await self._case_life("c.id = $1", case_id)

    async def zone_cases(self, zone_id: int) -> list[CaseLife]:
        async with self._reading() as conn:
            rows = await conn.fetch(
                _CASE + " WHERE c.managing_zone_id = $1 AND c.status = 'active'"
                " ORDER BY c.reference",
                zone_id,
            )
            return [await _life(conn, row) for row in rows]

    async def district_cases(self, district_id: int) -> list[CaseLife]:
        async with self._reading() as conn:
            rows = await conn.fetch(
                _CASE + " WHERE c.district_id = $1 AND c.status = 'active' ORDER BY c.reference",
                district_id,
            )
            return [await _life(conn, row) for row in rows]

    async def district_requests(self, district_id: int) -> list[RequestView]:
        async with self._reading() as conn:
            rows = await conn.fetch(
                _REQUEST + " WHERE jd.id = $1 AND (r.decision IS NULL OR r.decision = 'refused')"
                " ORDER BY r.id",
                district_id,
            )
        return [_request(row) for row in rows]

    async def district_id(self, name: str) -> int | None:
        async with self._reading() as conn:
            row = await fetchrow(conn, "SELECT id FROM judicial_districts WHERE name = $1", name)
        return None if row is None else int(row["id"])

    async def request_view(self, request_id: int) -> RequestView | None:
        async with self._reading() as conn:
            row = await fetchrow(conn, _REQUEST + " WHERE r.id = $1", request_id)
        return None if row is None else _request(row)

    async def support_cases(self, district_id: int) -> list[SupportCase]:
        async with self._reading() as conn:
            cases = await conn.fetch(
                "SELECT c.id, c.reference, z.name AS zone, c.ends_on FROM cases c"
                " JOIN police_zones z ON z.id = c.managing_zone_id"
                " WHERE c.district_id = $1 AND c.status = 'active' ORDER BY c.reference",
                district_id,
            )
            persons = await conn.fetch(
                "SELECT p.id, p.case_id, p.full_name, p.phone_number, p.national_register_number,"
                " p.confidential FROM persons p JOIN cases c ON c.id = p.case_id"
                " WHERE c.district_id = $1 AND c.status = 'active' ORDER BY p.id",
                district_id,
            )
            addresses = await conn.fetch(
                "SELECT a.person_id, a.kind, a.address, a.valid_from, a.valid_until"
                " FROM addresses a JOIN persons p ON p.id = a.person_id"
                " JOIN cases c ON c.id = p.case_id"
                " WHERE c.district_id = $1 AND c.status = 'active' ORDER BY a.id",
                district_id,
            )
        by_person: dict[int, list[dict[str, object]]] = {}
        for a in addresses:
            by_person.setdefault(int(a["person_id"]), []).append(
                {"kind": a["kind"], "address": a["address"], "valid_from": a["valid_from"],
                 "valid_until": a["valid_until"]}
            )  # fmt: skip
        by_case: dict[int, list[SupportPerson]] = {}
        for p in persons:
            by_case.setdefault(int(p["case_id"]), []).append(
                SupportPerson(p["full_name"], p["phone_number"], p["national_register_number"],
                              bool(p["confidential"]), tuple(by_person.get(int(p["id"]), ())))
            )  # fmt: skip
        return [
            SupportCase(int(c["id"]), c["reference"], c["zone"], c["ends_on"],
                        tuple(by_case.get(int(c["id"]), ())))
            for c in cases
        ]  # fmt: skip

    async def _case_life(self, where: str, value: object) -> CaseLife | None:
        async with self._reading() as conn:
            row = await fetchrow(conn, f"{_CASE} WHERE {where}", value)
            return None if row is None else await _life(conn, row)

    async def _active(self, conn: Connection, reference: str) -> Row | Literal["unknown", "ended"]:
        """The case's row, or "unknown" / "ended"."""
        case = await fetchrow(
            conn,
            "SELECT id, status, ends_on, managing_zone_id FROM cases WHERE reference = $1",
            reference,
        )
        if case is None:
            return "unknown"
        return case if case["status"] == "active" else "ended"


async def _life(conn: Connection, row: Any) -> CaseLife:
    decided_on = dt.date.fromisoformat(row["decided_on"])
    lines = [registration_line("grant", decided_on)]
    extensions = await conn.fetch(
        "SELECT decided_on, decided_at FROM measure_extensions WHERE case_id = $1 ORDER BY id",
        row["id"],
    )
    for extension in extensions:
        day = extension["decided_on"]
        if day is None:  # a real alarm's: the day it was closed, in Belgium
            day = belgian_day(int(extension["decided_at"]))
        lines.append(registration_line("extension", dt.date.fromisoformat(day)))
    if row["ended_on"] is not None:
        lines.append(registration_line("end", dt.date.fromisoformat(row["ended_on"])))
    return CaseLife(
        id=int(row["id"]),
        reference=row["reference"],
        status=row["status"],
        zone=row["zone"],
        zone_id=int(row["zone_id"]),
        decided_on=decided_on,
        ends_on=_day(row["ends_on"]),
        ended_on=_day(row["ended_on"]),
        end_reason=row["end_reason"],
        last_revisit=_day(row["last_revisit"]),
        last_reevaluation=_day(row["last_reevaluation"]),
        support_started_on=row["support_started_on"],
        registrations=tuple(lines),
        cic_watch=bool(row["cic_watch"]),
    )
