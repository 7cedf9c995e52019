"""Supervision: no button or phone goes silent unseen (docs/supervision.md).

The rules are pure functions of what the backend last heard from a button and its
phone (`Liveness`) and a clock: `findings(liveness, now, rules)` says what is wrong
now and since when. The `Supervisor` runs the sweep (store/supervision.py) every
`sweep_s`: it folds in what arrived since the last sweep, raises an event for each
finding that has none open, and ends the open events that are no longer true. So
an event is raised at most `sweep_s` (plus the sweep itself) after it became true,
whether or not anything arrives: a silent button sends nothing to react to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, get_args

from msa.backend.background import WokenTask
from msa.timefmt import now_ms, to_iso

if TYPE_CHECKING:
    from msa.backend.nodes import Leases

Kind = Literal[
    "button_silent",
    "phone_offline",
    "bluetooth_off",
    "battery_low",
    "button_stuck",
    "frames_waiting",
    "crash_recovered",
]
KINDS: tuple[Kind, ...] = get_args(Kind)

# What the zone's reference officer is told to do (shown with each event).
ADVICE: dict[Kind, str] = {
    "button_silent": "Call the person: the button sends nothing (battery, out of range, lost?).",
    "phone_offline": "Call the person: her phone is not online (off, no data, app stopped?).",
    "bluetooth_off": "Call the person: Bluetooth is off on her phone; an alarm cannot pass.",
    "battery_low": "Call the person: the button needs a new battery or a swap (tech desk).",
    "button_stuck": "Call the person: the button is held down (in a bag?) and ignores presses.",
    "frames_waiting": "Call the person: her phone stores the button's frames but does not "
    "deliver them (data off, app restricted?).",
    "crash_recovered": "Note it; if it repeats, have the tech desk swap the button.",
}

# Heartbeat flags (protocol/SPEC.md §3).
STUCK = 0x01
LOW_BATTERY = 0x02
RECOVERED = 0x04
UNRECEIPTED = 0x08
FLAGGED = STUCK | LOW_BATTERY | RECOVERED | UNRECEIPTED  # a flag `findings` reports


@dataclass(frozen=True, slots=True)
class Rules:
    check_in_s: int = 900  # the phone checks in this often (msa/app/reports.py)
    battery_low_pct: int = 20  # the firmware's default low threshold
    sweep_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Liveness:
    """A supervised button and its phone, as the sweeper last folded them in.
    Instants are epoch ms; `None` where nothing was heard yet."""

    device_id: int
    case_id: int
    person_id: int
    zone_id: int
    heartbeat_s: int
    grace_s: int
    watched_since: int  # the device's provisioning: silence counts from here at first
    last_frame_at: int | None = None
    heartbeat_at: int | None = None
    battery_pct: int | None = None
    flags: int | None = None
    waiting: int | None = None
    waiting_alarms: int | None = None
    battery_low_at: int | None = None
    phone_id: int | None = None
    phone_since: int | None = None  # the phone's link to the button
    phone_seen_at: int | None = None
    bluetooth_off_at: int | None = None  # an open period with Bluetooth off


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    device_id: int
    since: int
    detail: str


def findings(live: Liveness, now: int, rules: Rules) -> list[Finding]:
    """What is wrong with this button and its phone at `now`."""
    found: list[Finding] = []

    def add(kind: Kind, since: int, detail: str) -> None:
        found.append(Finding(kind, live.device_id, min(since, now), detail))

    grace_ms = live.grace_s * 1000
    heard = live.last_frame_at if live.last_frame_at is not None else live.watched_since
    due = heard + live.heartbeat_s * 1000 + grace_ms
    if now >= due:
        last = "never" if live.last_frame_at is None else to_iso(live.last_frame_at)
        add(
            "button_silent",
            due,
            f"last frame: {last}; a heartbeat is due every {live.heartbeat_s} s",
        )
    if live.phone_id is not None:
        seen = live.phone_seen_at if live.phone_seen_at is not None else live.phone_since
        phone_due = (seen or now) + rules.check_in_s * 1000 + grace_ms
        if now >= phone_due:
            last = "never" if live.phone_seen_at is None else to_iso(live.phone_seen_at)
            add("phone_offline", phone_due, f"phone last online: {last}")
        if live.bluetooth_off_at is not None:
            add(
                "bluetooth_off", live.bluetooth_off_at, f"off since {to_iso(live.bluetooth_off_at)}"
            )
    flags = live.flags or 0
    beat = live.heartbeat_at if live.heartbeat_at is not None else now
    low_pct = live.battery_pct is not None and live.battery_pct <= rules.battery_low_pct
    low_event = live.battery_low_at is not None and (
        live.heartbeat_at is None or live.battery_low_at > live.heartbeat_at
    )
    if flags & LOW_BATTERY or low_pct or low_event:
        since = live.battery_low_at if low_event and live.battery_low_at is not None else beat
        pct = "unknown" if live.battery_pct is None else f"{live.battery_pct} %"
        add("battery_low", since, f"battery {pct}")
    if flags & STUCK:
        add("button_stuck", beat, "the button reports it is held down")
    if flags & UNRECEIPTED:
        add(
            "frames_waiting",
            beat,
            f"{live.waiting or 0} frames wait on the button without a receipt,"
            f" {live.waiting_alarms or 0} of them alarms",
        )
    if flags & RECOVERED:
        add("crash_recovered", beat, "the button restarted after a crash or a watchdog reset")
    return found


@dataclass(frozen=True, slots=True)
class Sweep:
    """What one sweep did."""

    at: int
    devices: int  # supervised buttons judged (those something may be wrong with)
    folded: int  # rows folded in since the last sweep
    raised: int
    ended: int


@dataclass(frozen=True, slots=True)
class Event:
    """A supervision event, as the zone's page and the console show it."""

    id: int
    kind: Kind
    device_id: int
    phone_id: int | None
    case_id: int
    case_reference: str
    person_name: str
    zone: str
    since: int
    raised_at: int
    detail: str
    acknowledged_at: int | None
    acknowledged_by: str | None
    ended_at: int | None

    @property
    def advice(self) -> str:
        return ADVICE[self.kind]

    def row(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "device_id": f"{self.device_id:08x}",
            "case": self.case_reference,
            "person": self.person_name,
            "zone": self.zone,
            "since": to_iso(self.since),
            "raised_at": to_iso(self.raised_at),
            "detail": self.detail,
            "advice": self.advice,
            "acknowledged_at": None
            if self.acknowledged_at is None
            else to_iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "ended_at": None if self.ended_at is None else to_iso(self.ended_at),
        }


Ack = Literal["done", "unchanged", "unknown", "not_yours"]


class SupervisionStore(Protocol):
    """The store, as supervision uses it (store/supervision.py)."""

    async def sweep_supervision(self, now: int, rules: Rules) -> Sweep:
        """Fold in what arrived, raise what became true, end what no longer is."""
        ...

    async def supervision_events(
        self, zone_id: int | None = None, watched: bool = False, limit: int = 500
    ) -> list[Event]:
        """The events still open or not acknowledged, newest first: of one zone's
        cases, or (`watched`) of the cases their zones show the CIC."""
        ...

    async def acknowledge_supervision(
        self, event_id: int, operator_id: int, zone_id: int | None, at: int
    ) -> Ack:
        """Acknowledge an event, by an operator of its zone (`zone_id`), or of the CIC
        (`zone_id` None) for a watched case."""
        ...

    async def zone_id(self, name: str) -> int | None:
        """A police zone's id by its name; None for an unknown zone."""
        ...

    async def set_case_supervision(
        self, reference: str, grace_s: int | None, cic_watch: bool | None
    ) -> bool:
        """A case's grace and CIC watch changed; False for an unknown case."""
        ...


class Supervisor(WokenTask):
    """The sweep, every `rules.sweep_s`; `clock` (epoch ms) is injectable for tests."""

    name = "supervisor"

    def __init__(
        self,
        store: SupervisionStore,
        rules: Rules | None = None,
        clock: Callable[[], int] = now_ms,
        leases: Leases | None = None,
    ) -> None:
        super().__init__(leases)
        self.rules = rules or Rules()
        self.retry_s = self.rules.sweep_s
        self._store = store
        self._clock = clock
        self.last: Sweep | None = None

    async def round(self) -> float:
        self.last = await self._store.sweep_supervision(self._clock(), self.rules)
        return self.rules.sweep_s
