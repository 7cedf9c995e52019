"""The store's contract: what the backend asks of its database, whatever the engine.

`Store` is the one typed Protocol; `SqliteStore` and `PostgresStore` implement it
(both on the shared SQL in `store/sql.py`). Records crossing the boundary are
frozen dataclasses; instants are epoch milliseconds, dates ISO `YYYY-MM-DD` text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from msa.backend.case_life import CaseStore
from msa.backend.daily_report import ReportStore
from msa.backend.supervision import SupervisionStore
from msa.errors import MsaError

if TYPE_CHECKING:
    from msa.backend.evidence import Entry as EvidenceEntry
    from msa.backend.workflow import Step


class StoreUnavailable(MsaError):
    """The database cannot be reached or cannot commit now; the caller may retry."""


# --- ingestion ---------------------------------------------------------------

KeyStatus = Literal["active", "retired", "revoked"]
InventoryState = Literal["stock", "assigned", "repair", "returned", "lost"]


@dataclass(frozen=True, slots=True)
class Device:
    """A device with the key of one epoch (None: the device has no such epoch)."""

    device_id: int
    mac_key: bytes | None
    status: str
    epoch: int = 0
    key_status: KeyStatus | None = None


@dataclass(frozen=True, slots=True)
class IngestContext:
    """What judging a frame needs: the phone behind a token, the device it names."""

    phone_id: int
    linked_device_id: int | None
    device: Device | None
    person_id: int | None  # the device's person, else the phone's
    case_id: int | None
    token_epoch: int = 0  # the epoch the phone's token belongs to (SPEC §4)


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """A frame refused because its key was revoked (SPEC §4)."""

    at: int
    kind: str
    device_id: int
    epoch: int
    counter: int
    frame_type: int
    phone_id: int | None
    id: int = 0
    device_status: str = "active"  # "lost" | "stolen" once `msa backend revoke` said so
    case_reference: str | None = None  # of the device's person, if it has one


RevocationReason = Literal["lost", "stolen"]
ReportOutcome = Literal["committed", "duplicate", "conflict"]
CheckInOutcome = Literal["committed", "duplicate"]
FixOutcome = Literal[
    "committed", "duplicate", "unknown_phone", "unknown_alarm", "not_linked", "closed"
]


@dataclass(frozen=True, slots=True)
class Decommission:
    """A button taken out of its case (`msa decommission`)."""

    device_id: int
    case_reference: str | None  # the case it served
    keys_revoked: int  # key epochs revoked now
    tokens_revoked: int  # phone tokens that no longer reach anything
    state: str  # where it went in the inventory: stock or repair
    done_now: bool  # False: it was decommissioned already, and nothing changed


@dataclass(frozen=True, slots=True)
class DistrictStock:
    """A judicial district's buttons by inventory state, and its reorder level."""

    district: str
    counts: dict[str, int]  # every state of msa.backend.inventory.STATES
    min_stock: int

    @property
    def short(self) -> bool:
        return self.counts["stock"] < self.min_stock

    def row(self) -> dict[str, Any]:
        """As `msa inventory --json` and `GET /api/v1/inventory` give it."""
        return {"district": self.district, **self.counts, "min_stock": self.min_stock,
                "short": self.short}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Revocation:
    """A device's key revoked (`msa backend revoke`)."""

    device_id: int
    epoch: int  # the key revoked: the device's latest, the one on the button
    reason: str
    revoked_now: bool  # False: it was revoked already, and nothing changed


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None
    fix_at: int | None = None


@dataclass(frozen=True, slots=True)
class NewAlarm:
    kind: Literal["alarm", "test_alarm"]
    person_id: int
    case_id: int
    pressed_at: int | None  # from the button's clock; None when it was not set


@dataclass(frozen=True, slots=True)
class NewFrame:
    """A verified button frame, ready to commit (with its alarm, if it raises one)."""

    device_id: int
    counter: int
    type: int
    raw: bytes
    time_s: int
    battery_mv: int
    uptime_s: int | None
    phone_id: int
    received_at: int
    location: Location | None
    alarm: NewAlarm | None
    battery_pct: int | None = None  # None: a firmware 0.1 button does not send it
    flags: int | None = None  # heartbeat flags (protocol/SPEC.md §3)
    waiting: int | None = None  # a heartbeat's frames still held by the button
    waiting_alarms: int | None = None  # and the alarms among them


@dataclass(frozen=True, slots=True)
class Commit:
    """The outcome of `Store.commit_frame`; for a duplicate, the first commit's time.
    `alarm`: the alarm committed, as the consoles see it, where the store read it
    in the commit's own step (SQLite); None: whoever announces it reads it."""

    outcome: Literal["committed", "duplicate", "counter_reused"]
    frame_id: int
    committed_at: int
    alarm_id: int | None
    alarm: Alarm | UnreadableAlarm | None = None


# Judges an alarm for `commit_alarm`: given its phone and device (None: an unknown
# phone), the context that lets it in and the frame to store, or it raises.
Admit = Callable[[IngestContext | None], tuple[IngestContext, NewFrame]]


# --- what the CIC console sees ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    kind: Literal["home", "work", "stay"]
    address: str
    valid_from: str | None = None
    valid_until: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    full_name: str
    phone_number: str
    national_register_number: str
    confidential: bool
    addresses: tuple[Address, ...]


@dataclass(frozen=True, slots=True)
class Suspect:
    full_name: str
    record: str
    has_weapons: bool
    weapons: str


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    reference: str
    status: str
    decided_on: str
    ends_on: str | None
    managing_zone: str
    judicial_district: str
    suspect: Suspect | None
    support_started_on: str | None = None
    # The case's other protected persons (children, relatives), without addresses.
    others: tuple[Person, ...] = ()


@dataclass(frozen=True, slots=True)
class Workflow:
    """Where an alarm is in the operator's workflow; `*_by` are operator names."""

    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    dispatched_at: int | None = None
    dispatched_by: str | None = None
    patrol: str | None = None
    patrol_zone: str | None = None
    on_scene_at: int | None = None
    on_scene_by: str | None = None
    closed_at: int | None = None
    closed_by: str | None = None
    outcome: str | None = None
    pv_number: str | None = None


@dataclass(frozen=True, slots=True)
class TrailPoint:
    """One fix of the phone during an alarm: the alarm's own, then the updates."""

    lat: float
    lon: float
    accuracy_m: float | None
    fix_at: int | None
    received_at: int
    source: Literal["alarm", "update"]


@dataclass(frozen=True, slots=True)
class Notification:
    """A mail from the outbox: the magistrate's about an alarm, or about a judicial
    district's stock of buttons (no alarm)."""

    id: int
    alarm_id: int | None
    recipient: str | None
    subject: str
    body: str
    created_at: int
    attempts: int
    next_attempt_at: int
    last_error: str | None
    sent_at: int | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A workflow action on an alarm, from the audit trail, with the operator's name."""

    at: int
    actor: str
    actor_name: str | None
    action: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm with everything the CIC needs to act on it."""

    id: int
    kind: Literal["alarm", "test_alarm"]
    status: str
    device_id: int
    counter: int
    battery_mv: int
    pressed_at: int | None
    received_at: int
    committed_at: int
    location: Location | None  # the latest fix: the last of `trail`
    person: Person
    case: Case
    revision: int = 0  # grows with every change (a step, a fix, the magistrate's mail)
    workflow: Workflow = Workflow()
    trail: tuple[TrailPoint, ...] = ()
    intervention_zone: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    notification: Notification | None = None


@dataclass(frozen=True, slots=True)
class UnreadableAlarm:
    """An alarm whose rows the store could not load: what could be read of it, and
    the error. Still an alarm: the console shows it as an error card."""

    id: int
    revision: int | None
    kind: str | None
    status: str | None
    device_id: int | None
    person_id: int | None
    case_id: int | None
    error: str  # "OverflowError: date value out of range"


@dataclass(frozen=True, slots=True)
class Operator:
    id: int
    name: str
    role: str
    zone_id: int | None = None  # a zone officer's police zone
    district_id: int | None = None  # a magistrate's or victim support's judicial district


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: int
    actor: str  # "operator:7"
    action: str  # "alarm.push", "alarm.read", "operator.login"
    subject: str  # "alarm:12"
    case_id: int | None = None
    detail: str | None = None  # "patrol GE-21 (PZ Gent)"


@dataclass(frozen=True, slots=True)
class StepResult:
    """What `Store.apply_step` did: `done`, or `unchanged` (the step was done before)."""

    outcome: Literal["done", "unchanged"]
    extended_to: str | None = None  # the measure's new end, after a real alarm
    notification_id: int | None = None  # the magistrate's mail, queued


@dataclass(frozen=True, slots=True)
class ZoneArea:
    zone: str
    south: float
    west: float
    north: float
    east: float


# --- provisioning ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonDraft:
    full_name: str
    phone_number: str
    national_register_number: str
    confidential: bool = False
    addresses: tuple[Address, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseDraft:
    """A case as decided by the magistrate, created in one transaction."""

    reference: str
    decided_on: str
    managing_zone: str
    judicial_district: str
    persons: tuple[PersonDraft, ...]
    suspect: Suspect | None = None
    ends_on: str | None = None


@dataclass(frozen=True, slots=True)
class CaseIds:
    case_id: int
    person_ids: tuple[int, ...]  # in the draft's order
    created: bool  # False: a case with this reference existed and was left as it was


class SchemaStore(Protocol):
    """The database itself: its schema, its end, its size."""

    dialect: str

    async def migrate(self) -> list[str]:
        """Apply the migrations not applied yet, in order; return their versions.

        Device keys left in plain text by an older schema are wrapped under the
        store's KEK on the way (KekError without one: nothing is applied then).
        With a KEK, KekError when the database's keys are wrapped under another.
        """
        ...

    async def close(self) -> None: ...

    async def counts(self) -> dict[str, int]:
        """Rows per table (cases, persons, devices, phones, operators, frames, alarms,
        audit): for operations, and for tests that a refusal changed nothing."""
        ...


class IngestStore(Protocol):
    """What the phones send: frames, their own reports, refused frames of revoked keys."""

    async def ingest_context(
        self, token_sha256: str, device_id: int, urgent: bool = False, epoch: int | None = None
    ) -> IngestContext | None:
        """The phone with this token hash, and the device with its key of `epoch`
        (default: the token's epoch); None for an unknown token.
        `urgent` (for an alarm) goes before routine work waiting for the database.
        The device's key is unwrapped: StoreUnavailable when it does not unwrap
        under the store's KEK (the phone keeps the frame and retries)."""
        ...

    async def commit_frame(self, frame: NewFrame) -> Commit:
        """Store a frame and its alarm atomically, unless its (device, counter) exists.
        A frame with an alarm goes before routine work waiting for the database."""
        ...

    async def commit_alarm(
        self, token_sha256: str, device_id: int, admit: Admit
    ) -> tuple[IngestContext, Commit]:
        """An alarm's frame, ahead of routine work: `ingest_context(token_sha256,
        device_id)` is handed to `admit`, which refuses the frame by raising (that
        exception comes out, nothing stored) or gives the context that let it in
        and the frame, committed as `commit_frame` does. Runs `admit` on whatever
        thread reads the context: it must not touch the event loop."""
        ...

    async def phone_by_token(self, token_sha256: str) -> int | None:
        """The id of the phone with this token hash, or None."""
        ...

    async def commit_link_report(
        self, phone_id: int, off_at: int, on_at: int | None
    ) -> ReportOutcome:
        """Store a period with Bluetooth off: "committed", "duplicate" (the same
        report again) or "conflict" (another end for the same start)."""
        ...

    async def commit_check_in(self, phone_id: int, checked_in_at: int) -> CheckInOutcome:
        """Store that the phone was online at `checked_in_at`: "committed" or "duplicate"."""
        ...

    async def record_security_event(
        self, device_id: int, counter: int, frame_type: int, phone_id: int | None
    ) -> SecurityEvent | None:
        """A frame under a revoked key was refused: keep it for the CIC, once per
        frame. The event, or None when this frame's was kept already."""
        ...


class ConsoleStore(Protocol):
    """What the CIC console reads, and the audit of who saw what."""

    async def alarm(self, alarm_id: int) -> Alarm | UnreadableAlarm | None:
        """One alarm with its context (an `UnreadableAlarm` if its rows cannot be
        loaded), None for an unknown id."""
        ...

    async def alarms(self, alarm_ids: Sequence[int]) -> list[Alarm | UnreadableAlarm]:
        """The alarms with these ids that exist, by id, for their announcement: read
        ahead of other reads, and never queued behind commits or heartbeats."""
        ...

    async def open_alarms(self, since: int | None = None) -> list[Alarm | UnreadableAlarm]:
        """The alarms not closed yet, oldest first; with `since` (the last alarm a
        console was sent), also the `SINCE_LIMIT` after it, closed or not. One that
        cannot be loaded comes as an `UnreadableAlarm` and fails no other."""
        ...

    async def alarm_audit(self, alarm_id: int) -> list[AuditEntry] | None:
        """Everything audited about one alarm (deliveries and reads too), oldest first;
        None when there is no such alarm."""
        ...

    async def operator_by_token(self, token_sha256: str) -> Operator | None: ...

    async def audit(
        self, entries: Sequence[AuditEntry], promote_after_s: float | None = None
    ) -> None:
        """Append the entries, in one transaction: routine work, unless it has waited
        `promote_after_s` for the database (then it goes with the alarms)."""
        ...

    async def audit_trail(self, case_id: int) -> list[AuditEntry]:
        """Everything audited about a case, oldest first."""
        ...

    async def security_events(self, limit: int | None = None) -> list[SecurityEvent]:
        """The security events (the newest `limit` of them), oldest first."""
        ...

    async def zone_areas(self) -> list[ZoneArea]: ...


class WorkflowStore(Protocol):
    """The operator's steps on an alarm, and the phone's fixes while it runs."""

    async def apply_step(
        self, alarm_id: int, step: Step, operator: Operator, at: int
    ) -> StepResult | None:
        """Take one workflow step (msa.backend.workflow) and audit it, in one transaction.

        None for an unknown alarm; raises `workflow.Refused` (nothing changed) for a
        step that may not be taken now, `workflow.Invalid` for an unknown zone.
        """
        ...

    async def add_fix(
        self, token_sha256: str, alarm_id: int, fix: Location, received_at: int
    ) -> FixOutcome:
        """Add a phone's fix to an alarm's trail. The outcome: `committed`,
        `duplicate` (this fix time is stored), `unknown_phone`, `unknown_alarm`,
        `not_linked` (not this phone's alarm) or `closed`."""
        ...


class MailStore(Protocol):
    """The outbox of mails (the magistrate's, the stock's, the zones' reports)."""

    async def due_notifications(self, now: int, limit: int = 20) -> list[Notification]:
        """Unsent notifications whose next attempt is due, oldest first."""
        ...

    async def claim_notifications(
        self, now: int, claim_ms: int, limit: int = 20
    ) -> list[Notification]:
        """Unsent notifications due at `now`, oldest first, each claimed for
        `claim_ms`: no other backend node sends it meanwhile."""
        ...

    async def next_notification_at(self) -> int | None:
        """When the earliest unsent notification is due; None when all are sent."""
        ...

    async def notification_sent(self, notification_id: int, at: int) -> None:
        """Mark it sent, and audit it on its alarm."""
        ...

    async def notification_failed(
        self, notification_id: int, error: str, next_attempt_at: int
    ) -> None: ...

    async def set_magistrate_email(self, district: str, email: str) -> None: ...


class DeskStore(Protocol):
    """The tech desk's: cases as files, buttons, keys, phones, the inventory, operators, zones."""

    async def find_case(self, reference: str) -> CaseIds | None:
        """The case with this reference and its persons' ids, or None."""
        ...

    async def create_case(self, draft: CaseDraft) -> CaseIds:
        """Create a case with its persons, addresses and suspect; idempotent by reference."""
        ...

    async def register_device(self, device_id: int, mac_key: bytes, person_id: int | None) -> int:
        """Create the device with this key as its epoch 0, or give an existing one
        this person and this key as its next epoch (the earlier keys retired);
        return the epoch. The key is stored wrapped under the store's KEK
        (KekError without one)."""
        ...

    async def active_key(self, device_id: int) -> tuple[int, bytes, int | None] | None:
        """(epoch, key, person id) of the device's active key, or None: for the tech
        desk's provisioning, to finish a run that was cut short with the same key."""
        ...

    async def link_phone(
        self, token_sha256: str, person_id: int, device_id: int, epoch: int | None = None
    ) -> int:
        """Give the device's phone this token for `epoch` (default: the device's
        latest); the tokens of other epochs stay theirs. Return the phone's id."""
        ...

    async def has_phone_token(self, device_id: int, epoch: int) -> bool:
        """Whether the device's phone holds a token for `epoch`."""
        ...

    async def provision_device(
        self, device_id: int, mac_key: bytes, person_id: int, token_sha256: str
    ) -> int:
        """register_device and link_phone in one transaction: both or neither.
        Return the new epoch."""
        ...

    async def test_alarm_confirmed(self, device_id: int, person_id: int, epoch: int) -> bool:
        """Whether the CIC confirmed a test alarm this button sent for this person
        under the key of `epoch` (msa provision's last step)."""
        ...

    async def revoke_key(self, device_id: int, epoch: int) -> bool:
        """Revoke the device's key of `epoch` (a lost or stolen button): its frames
        are refused from now on. False when there is no such key."""
        ...

    async def revoke_device(self, device_id: int, reason: RevocationReason) -> Revocation | None:
        """A lost or stolen button: revoke its latest key (the one it holds) and mark
        the device so; None when there is no such device. Earlier, retired keys stay
        as they are: their frames were signed while they were the button's."""
        ...

    async def inventory_add(self, district: str, device_ids: list[int]) -> list[int]:
        """Put buttons in the district's stock (new, or back from repair or a return);
        the ids that changed. InventoryError for an assigned or lost one: nothing
        changes then."""
        ...

    async def inventory_move(self, device_id: int, to: InventoryState, note: str) -> bool:
        """Move a button between stock, repair and returned; False when it was there
        already. InventoryError when it is not in the inventory, assigned or lost."""
        ...

    async def device_known(self, device_id: int) -> bool:
        """Whether the backend has this device (provisioned once)."""
        ...

    async def decommission_device(
        self, device_id: int, to: InventoryState, actor: str
    ) -> Decommission | None:
        """The backend's part of a decommissioning, in one transaction: every key of
        the device revoked, its phone's tokens removed, the device to `to` (stock or
        repair) in the inventory, the end written to its case's audit trail. None
        when there is no such device; idempotent."""
        ...

    async def set_min_stock(self, district: str, minimum: int) -> None:
        """The district's reorder level: under it, its stock is short."""
        ...

    async def inventory_counts(self, district: str | None = None) -> list[DistrictStock]:
        """Each district's buttons by state (one district, or all by name)."""
        ...

    async def add_operator(
        self,
        name: str,
        token_sha256: str,
        role: str,
        zone: str | None = None,
        district: str | None = None,
    ) -> int:
        """Create the operator, or give an existing one (by name) this token and role."""
        ...

    async def add_zone_area(self, area: ZoneArea, district: str) -> None:
        """Add a box to a zone (created in `district` if new); idempotent."""
        ...


class EvidenceStore(Protocol):
    """The cases' hash-chained evidence logs."""

    async def chain_evidence(self, case_id: int | None = None) -> int:
        """Chain every alarm not in its case's evidence yet (of `case_id` alone, when
        given); how many."""
        ...

    async def evidence(self, case_id: int) -> tuple[list[EvidenceEntry], tuple[int, str]]:
        """The case's evidence chain in order, and its head (seq, hash) as stored."""
        ...


SINCE_LIMIT = 500  # alarms after a reconnecting console's last: more, and it gets the open ones


class Listening(Protocol):
    lost: asyncio.Event  # set when the connection that listens is lost

    async def aclose(self) -> None: ...


class NodeStore(Protocol):
    """What several backend nodes on one database share (msa/backend/nodes.py)."""

    async def take_lease(self, job: str, holder: str, now: int, lease_ms: int) -> bool:
        """Hold `job` for `lease_ms` from `now` if it is free, lapsed or already
        `holder`'s; True when `holder` holds it."""
        ...

    async def last_alarm_id(self) -> int: ...

    async def alarm_revisions(self, after_id: int, ids: Sequence[int]) -> dict[int, int]:
        """The revision of every alarm after `after_id`, every one not closed, and
        those of `ids` (the ones a node showed open, which may have closed since)."""
        ...

    async def notify(self, channel: str, payloads: Sequence[str]) -> None:
        """Tell the other nodes (PostgreSQL's NOTIFY); one node's SQLite has none."""
        ...

    async def listen(self, channel: str, on_payload: Callable[[str], None]) -> Listening | None:
        """Hear `channel` on a connection of its own (PostgreSQL's LISTEN) until
        it is closed or lost; None where there are no other nodes (SQLite)."""
        ...


class Store(
    SchemaStore,
    NodeStore,
    IngestStore,
    ConsoleStore,
    WorkflowStore,
    MailStore,
    DeskStore,
    EvidenceStore,
    SupervisionStore,
    ReportStore,
    CaseStore,
    Protocol,
):
    """Everything the backend keeps: one protocol per part of the work, each method
    one transaction. A part that needs little asks for its own protocol.

    Methods raise `StoreUnavailable` when the database cannot be reached or cannot
    commit; nothing is half-written then.
    """
