"""The life of a case (COL 03/2023 §7; docs/cases.md): the rules, as pure functions
of dates. Every rule takes the day it judges (`today`), never the machine's clock.

- A **request** comes from the person, the police, the prosecutor or a third party;
  the police answer the **risk assessment**'s eight questions; the magistrate
  **grants** or **refuses** (a refusal is recorded, and may be revisited: decided
  again later).
- A granted measure runs **9 months** from the decision; a real alarm (not a
  false one) or new facts extend it by 9 months (msa/backend/workflow.py).
- The zone **re-evaluates** it in the month before it expires, and **revisits**
  the person every **3 months**.
- A stay of **5 nights or more** is programmed only if announced **7 calendar
  days** ahead; abroad the alarm is not active.
- The case may **move** to another managing zone; it **ends** early with a reason,
  or at its end; the buttons are then deactivated and returned to the tech desk.
- The prosecutor's office records each decision in the circular's words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from msa.backend.workflow import EXTENSION_MONTHS, add_months

RequestedBy = Literal["person", "police", "prosecutor", "third_party"]
REQUESTERS: tuple[RequestedBy, ...] = get_args(RequestedBy)
EndReason = Literal["expired", "danger_gone", "abuse", "victim_request", "settled_abroad"]
END_REASONS: tuple[EndReason, ...] = get_args(EndReason)
END_REASON_TEXT: dict[EndReason, str] = {
    "expired": "the measure reached its end",
    "danger_gone": "the danger is gone (the suspect died, moved abroad or is detained)",
    "abuse": "repeated abuse, or a breach of the user agreement",
    "victim_request": "at the protected person's request",
    "settled_abroad": "the protected person settles abroad",
}
TaskKind = Literal["revisit", "reevaluation", "expired"]
StayOutcome = Literal["accepted", "refused", "abroad"]

MEASURE_MONTHS = 9
assert MEASURE_MONTHS == EXTENSION_MONTHS  # the circular's nine months, both ways
REVISIT_MONTHS = 3
STAY_NIGHTS = 5  # from this many nights, a stay must be announced
STAY_NOTICE_DAYS = 7
MAX_STAY_NIGHTS = 366
HOME_COUNTRY = "BE"

# The risk assessment: eight yes/no questions (COL 03/2023 §7).
RISK_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("fears_for_life", "Does she fear for her life?"),
    ("breakup_not_accepted", "Does the suspect not accept the breakup?"),
    ("threats", "Has he threatened murder or suicide?"),
    ("earlier_violence", "Was there violence before?"),
    ("weapons", "Has he an affinity with weapons?"),
    ("invested", "Is he heavily invested in the harassment?"),
    ("anger", "Has he hard-to-control anger?"),
    ("destroyed_belongings", "Has he destroyed her belongings?"),
)
RISK_KEYS = tuple(key for key, _ in RISK_QUESTIONS)


def parse_day(text: str, what: str) -> dt.date:
    """A calendar day 'YYYY-MM-DD' between 2000 and 2100; ValueError naming `what`."""
    try:
        day = dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {text!r} is not a day: write YYYY-MM-DD") from None
    if not dt.date(2000, 1, 1) <= day <= dt.date(2100, 12, 31):
        raise ValueError(f"{what} {text} is out of range (2000 to 2100)")
    return day


def months_after(day: dt.date, months: int) -> dt.date:
    """`day` plus whole calendar months, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    return dt.date.fromisoformat(add_months(day.isoformat(), months))


def measure_end(decided_on: dt.date) -> dt.date:
    return months_after(decided_on, MEASURE_MONTHS)


def extended(ends_on: dt.date, decided_on: dt.date) -> dt.date:
    """The end after an extension decided on `decided_on`: nine months more, from the
    current end, or from the decision when the measure had already ended."""
    return months_after(max(ends_on, decided_on), EXTENSION_MONTHS)


@dataclass(frozen=True, slots=True)
class Task:
    kind: TaskKind
    due_on: dt.date
    text: str


def tasks(
    decided_on: dt.date,
    ends_on: dt.date,
    last_revisit: dt.date | None,
    last_reevaluation: dt.date | None,
    today: dt.date,
) -> list[Task]:
    """What the zone owes the case on `today`."""
    found: list[Task] = []
    if today >= ends_on:
        found.append(Task("expired", ends_on, f"The measure ended on {ends_on}: end the case, "
                          "or have the magistrate extend it."))  # fmt: skip
        return found
    reevaluate_from = months_after(ends_on, -1)
    if today >= reevaluate_from and (
        last_reevaluation is None or last_reevaluation < reevaluate_from
    ):
        found.append(Task("reevaluation", reevaluate_from, f"Re-evaluate: the measure ends on "
                          f"{ends_on}; extend it, or let it end."))  # fmt: skip
    revisit_due = months_after(last_revisit or decided_on, REVISIT_MONTHS)
    if today >= revisit_due:
        found.append(Task("revisit", revisit_due, "Revisit the person (every 3 months)."))
    return found


@dataclass(frozen=True, slots=True)
class StayDecision:
    outcome: StayOutcome
    nights: int
    reason: str


def judge_stay(starts: dt.date, ends: dt.date, announced: dt.date, country: str) -> StayDecision:
    """Whether the CIC is programmed with a stay from `starts` to `ends` (the night
    of `ends` not counted), announced on `announced`; ValueError for nonsense."""
    nights = (ends - starts).days
    if not 1 <= nights <= MAX_STAY_NIGHTS:
        raise ValueError(f"a stay lasts 1 to {MAX_STAY_NIGHTS} nights, not {nights}")
    if announced > starts:
        raise ValueError(f"a stay is announced before it starts, not on {announced}")
    if country.upper() != HOME_COUNTRY:
        return StayDecision("abroad", nights, "Outside Belgium the alarm is not active: the "
                            "stay is recorded, the CIC is not programmed.")  # fmt: skip
    notice = (starts - announced).days
    if nights >= STAY_NIGHTS and notice < STAY_NOTICE_DAYS:
        return StayDecision(
            "refused",
            nights,
            f"A stay of {nights} nights must be announced at least {STAY_NOTICE_DAYS} "
            f"calendar days ahead; this one was announced {notice} days ahead.",
        )
    return StayDecision("accepted", nights, "The CIC is programmed with this address.")


def belgian(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def registration_line(kind: Literal["grant", "extension", "end"], day: dt.date) -> str:
    """The prosecutor's office's registration, in the circular's words."""
    words = {
        "grant": "stalkingalarm beslist op",
        "extension": "verlenging stalkingalarm beslist op",
        "end": "stalkingalarm beëindigd op",
    }[kind]
    return f"{words} {belgian(day)}"


# -- what the store gives back -------------------------------------------------------

RequestOutcome = Literal["created", "exists"]
Decision = Literal["granted", "refused", "unknown", "not_assessed", "already_granted"]
StepOutcome = Literal["done", "unchanged", "unknown", "ended"]
MoveOutcome = Literal["done", "unchanged", "unknown", "unknown_zone"]


@dataclass(frozen=True, slots=True)
class Decided:
    outcome: Decision
    case_id: int | None = None
    ends_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    outcome: StepOutcome
    deactivated: tuple[int, ...] = ()  # the buttons whose keys were revoked


@dataclass(frozen=True, slots=True)
class CaseLife:
    """A case as the zone follows it."""

    id: int
    reference: str
    status: str
    zone: str
    zone_id: int
    decided_on: dt.date
    ends_on: dt.date | None
    ended_on: dt.date | None
    end_reason: str | None
    last_revisit: dt.date | None
    last_reevaluation: dt.date | None
    support_started_on: str | None
    registrations: tuple[str, ...]
    cic_watch: bool = False  # the zone shows the CIC its supervision events

    def tasks(self, today: dt.date) -> list[Task]:
        if self.status != "active" or self.ends_on is None:
            return []
        return tasks(
            self.decided_on, self.ends_on, self.last_revisit, self.last_reevaluation, today
        )

    def row(self, today: dt.date) -> dict[str, object]:
        def iso(day: dt.date | None) -> str | None:
            return None if day is None else day.isoformat()

        return {
            "id": self.id,
            "reference": self.reference,
            "status": self.status,
            "zone": self.zone,
            "decided_on": self.decided_on.isoformat(),
            "ends_on": iso(self.ends_on),
            "ended_on": iso(self.ended_on),
            "end_reason": self.end_reason,
            "last_revisit": iso(self.last_revisit),
            "last_reevaluation": iso(self.last_reevaluation),
            "support_started_on": self.support_started_on,
            "registrations": list(self.registrations),
            "cic_watch": self.cic_watch,
            "tasks": [
                {"kind": t.kind, "due_on": t.due_on.isoformat(), "text": t.text}
                for t in self.tasks(today)
            ],
        }


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request as the magistrate decides it."""

    id: int
    reference: str
    requested_by: str
    requested_on: str
    zone: str
    district: str
    risk: dict[str, bool] | None
    decision: str | None
    decided_on: str | None
    note: str | None

    def row(self) -> dict[str, object]:
        return {
            "id": self.id, "reference": self.reference, "requested_by": self.requested_by,
            "requested_on": self.requested_on, "zone": self.zone, "district": self.district,
            "risk": self.risk, "decision": self.decision, "decided_on": self.decided_on,
            "note": self.note,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class SupportPerson:
    """A protected person as victim support sees her: the address even when it is
    confidential (the circular names victim support and the magistrate for it)."""

    name: str
    phone_number: str
    national_register_number: str
    confidential: bool
    addresses: tuple[dict[str, object], ...]


@dataclass(frozen=True, slots=True)
class SupportCase:
    id: int
    reference: str
    zone: str
    ends_on: str | None
    persons: tuple[SupportPerson, ...]

    def row(self) -> dict[str, object]:
        return {
            "id": self.id,
            "reference": self.reference,
            "zone": self.zone,
            "ends_on": self.ends_on,
            "persons": [
                {
                    "name": p.name,
                    "phone_number": p.phone_number,
                    "national_register_number": p.national_register_number,
                    "confidential": p.confidential,
                    "addresses": list(p.addresses),
                }
                for p in self.persons
            ],
        }


class CaseStore(Protocol):
    """The store, as a case's life uses it (store/case_life.py). `actor` is who did
    it ("operator:7", "cli:tech-desk"); `at` when (epoch ms)."""

    async def request_case(
        self, reference: str, requested_by: RequestedBy, requested_on: dt.date,
        zone: str, district: str, draft: str, actor: str, at: int,
    ) -> RequestOutcome: ...  # fmt: skip

    async def assess_risk(
        self, reference: str, answers: dict[str, bool], actor: str, at: int
    ) -> Literal["done", "unknown", "decided"]: ...

    async def decide_request(
        self, reference: str, granted: bool, on: dt.date, note: str, actor: str, at: int
    ) -> Decided: ...

    async def extend_case(
        self, reference: str, on: dt.date, reason: str, actor: str, at: int
    ) -> tuple[StepOutcome, dt.date | None]: ...

    async def review_case(
        self, case_id: int, kind: Literal["revisit", "reevaluation"], on: dt.date, note: str,
        actor: str, at: int,
    ) -> StepOutcome: ...  # fmt: skip

    async def add_stay(
        self, reference: str, national_register_number: str, address: str, country: str,
        starts: dt.date, ends: dt.date, announced: dt.date, actor: str, at: int,
    ) -> StayDecision | None: ...  # fmt: skip

    async def move_case(self, reference: str, zone: str, actor: str, at: int) -> MoveOutcome: ...

    async def end_case(
        self, reference: str, on: dt.date, reason: EndReason, actor: str, at: int
    ) -> Ended: ...

    async def case_life(self, reference: str) -> CaseLife | None: ...

    async def case_life_by_id(self, case_id: int) -> CaseLife | None: ...

    async def zone_cases(self, zone_id: int) -> list[CaseLife]:
        """The zone's active cases, by reference."""
        ...

    async def district_cases(self, district_id: int) -> list[CaseLife]:
        """The judicial district's active cases, by reference."""
        ...

    async def district_requests(self, district_id: int) -> list[RequestView]:
        """The district's requests not granted yet (to decide, or refused), oldest first."""
        ...

    async def request_view(self, request_id: int) -> RequestView | None: ...

    async def district_id(self, name: str) -> int | None:
        """A judicial district's id by its name; None for an unknown one."""
        ...

    async def support_cases(self, district_id: int) -> list[SupportCase]:
        """The district's active cases, their persons and addresses."""
        ...
