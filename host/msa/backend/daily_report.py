"""The managing zone's daily report (docs/daily-report.md): each morning, per
protected person, the circular's five items over the 24 hours before the report's
time, and the irregularities with what the reference officer should do.

The five items (circular of 29 May 2019, §7; COL 03/2023):
1. the person: name and phone, or the national register number alone when the
   address is confidential;
2. alarms in the period, and where;
3. Bluetooth off: how often, and how long in all;
4. the button's battery (its latest heartbeat);
5. whether the phone was online (checked in) in the period.

An alarm calls for a multidisciplinary consultation; every other irregularity for
a call to the person. Times are the zone's local time (Europe/Brussels): a report
at 07:00 covers 07:00 the day before to 07:00 the day itself, which is 23 or 25
hours across a daylight-saving change. `ReportScheduler` makes the reports that
are due, those missed while no backend ran included (up to `CATCH_UP_DAYS`), once
each (a zone and a day are a report's identity), and queues their mail.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from zoneinfo import ZoneInfo

from msa.backend.background import WokenTask
from msa.timefmt import now_ms, to_iso

if TYPE_CHECKING:
    from msa.backend.nodes import Leases

log = logging.getLogger(__name__)

BRUSSELS = ZoneInfo("Europe/Brussels")
CATCH_UP_DAYS = 7
ROUND_S = 60.0
LOW_BATTERY_PCT = 20
CONSULT = "multidisciplinary consultation (alarm)"
CALL = "call the person"

Irregularity = Literal["alarm", "bluetooth_off", "phone_offline", "battery_low", "button_silent"]


@dataclass(frozen=True, slots=True)
class Period:
    day: dt.date  # the report's day (local)
    start: int  # epoch ms, inclusive
    end: int  # epoch ms, exclusive

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 3_600_000


def send_instant(day: dt.date, send_at: dt.time, tz: dt.tzinfo = BRUSSELS) -> int:
    """Epoch ms of `send_at` local time on `day`. A time in the spring-forward gap
    is the instant after the gap (PEP 495's fold 0 reading)."""
    local = dt.datetime.combine(day, send_at, tzinfo=tz)
    return round(local.timestamp() * 1000)


def period(day: dt.date, send_at: dt.time, tz: dt.tzinfo = BRUSSELS) -> Period:
    """The report of `day` covers the day before's sending time to this day's."""
    return Period(
        day, send_instant(day - dt.timedelta(days=1), send_at, tz), send_instant(day, send_at, tz)
    )


def due_days(
    now: int, send_at: dt.time, since: dt.date, last: dt.date | None, tz: dt.tzinfo = BRUSSELS
) -> list[dt.date]:
    """The report days due at `now` and not made yet: after `last` (and from `since`),
    at most `CATCH_UP_DAYS` back, each once its sending time has passed."""
    today = dt.datetime.fromtimestamp(now / 1000, tz).date()
    first = max(since, today - dt.timedelta(days=CATCH_UP_DAYS - 1))
    if last is not None:
        first = max(first, last + dt.timedelta(days=1))
    days = []
    day = first
    while day <= today:
        if send_instant(day, send_at, tz) <= now:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def parse_send_at(text: str) -> dt.time:
    """'HH:MM' (24 h), as a zone sets it; ValueError otherwise."""
    hours, colon, minutes = text.partition(":")
    if not colon or len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"{text!r} is not a time of day: write HH:MM, e.g. 07:00")
    return dt.time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class AlarmSeen:
    at: str  # ISO instant
    lat: float | None
    lon: float | None
    zone: str | None  # the intervention zone of its fix
    outcome: str | None


@dataclass(slots=True)
class PersonLine:
    """One protected person's line of the report."""

    case: str
    person: str  # name, or the national register number (confidential)
    phone: str | None  # None when confidential
    confidential: bool
    device_id: str | None
    alarms: list[AlarmSeen] = field(default_factory=list)
    bluetooth_off_times: int = 0
    bluetooth_off_minutes: int = 0
    battery_pct: int | None = None
    heard_in_period: bool = False  # a frame from the button
    phone_online: bool = False
    irregular: list[Irregularity] = field(default_factory=list)
    todo: str | None = None

    def judge(self) -> None:
        """Flag what is irregular and say what to do."""
        found: list[Irregularity] = []
        if self.alarms:
            found.append("alarm")
        if self.bluetooth_off_times:
            found.append("bluetooth_off")
        if not self.phone_online:
            found.append("phone_offline")
        if self.battery_pct is not None and self.battery_pct <= LOW_BATTERY_PCT:
            found.append("battery_low")
        if self.device_id is not None and not self.heard_in_period:
            found.append("button_silent")
        self.irregular = found
        self.todo = CONSULT if self.alarms else CALL if found else None


@dataclass(frozen=True, slots=True)
class Report:
    zone: str
    day: str
    period_start: str
    period_end: str
    lines: list[PersonLine]

    @property
    def irregular(self) -> int:
        return sum(1 for line in self.lines if line.irregular)

    def body(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_body(cls, body: str) -> Report:
        data = json.loads(body)
        lines = []
        for raw in data["lines"]:
            alarms = [AlarmSeen(**a) for a in raw.pop("alarms")]
            lines.append(PersonLine(alarms=alarms, **raw))
        return cls(data["zone"], data["day"], data["period_start"], data["period_end"], lines)

    def mail(self) -> tuple[str, str]:
        """The mail's subject and plain text."""
        subject = (
            f"msa daily report {self.zone} {self.day}: {len(self.lines)} persons, "
            f"{self.irregular} to follow up"
        )
        text = [
            f"Daily report of the mobile stalking alarm, {self.zone}, {self.day}",
            f"Period: {self.period_start} to {self.period_end} (UTC)",
            "",
        ]
        for line in sorted(self.lines, key=lambda item: (not item.irregular, item.case)):
            text.append(f"{line.case}  {line.person}  {line.phone or '(confidential)'}")
            text.extend(f"    {item}" for item in describe(line))
            text.append("")
        return subject, "\n".join(text)


def describe(line: PersonLine) -> list[str]:
    """The five items of a line, and what to do, in words."""
    where = ", ".join(
        f"{a.at} at {a.lat:.5f},{a.lon:.5f}" + (f" ({a.zone})" if a.zone else "")
        if a.lat is not None and a.lon is not None
        else f"{a.at} (no location)"
        for a in line.alarms
    )
    battery = "unknown" if line.battery_pct is None else f"{line.battery_pct} %"
    return [
        f"alarms: {'yes: ' + where if line.alarms else 'no'}",
        "Bluetooth off: "
        + (
            f"yes, {_times(line.bluetooth_off_times)}, {line.bluetooth_off_minutes} min in all"
            if line.bluetooth_off_times
            else "no"
        ),
        f"button battery: {battery}"
        + ("" if line.heard_in_period or line.device_id is None else ", button not heard"),
        f"phone online in the period: {'yes' if line.phone_online else 'NO'}",
        f"to do: {line.todo}" if line.todo else "to do: nothing",
    ]


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


@dataclass(frozen=True, slots=True)
class Schedule:
    zone_id: int
    zone: str
    send_at: dt.time
    email: str
    since: dt.date
    last: dt.date | None  # the latest report made


@dataclass(frozen=True, slots=True)
class StoredReport:
    id: int
    zone: str
    day: str
    created_at: int
    persons: int
    irregular: int
    mailed_at: int | None

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "zone": self.zone,
            "day": self.day,
            "created_at": to_iso(self.created_at),
            "persons": self.persons,
            "irregular": self.irregular,
            "mailed_at": None if self.mailed_at is None else to_iso(self.mailed_at),
        }


class ReportStore(Protocol):
    """The store, as the daily reports use it (store/daily_report.py)."""

    async def set_report_schedule(self, zone: str, send_at: str, email: str, since: str) -> bool:
        """The zone's report time and address; False for an unknown zone."""
        ...

    async def report_schedules(self) -> list[Schedule]: ...

    async def zone_name(self, zone_id: int) -> str | None: ...

    async def make_report(self, schedule: Schedule, day: dt.date, now: int) -> int | None:
        """The zone's report of `day` made, stored and its mail queued, in one
        transaction; its id, or None when it was made before."""
        ...

    async def build_report(self, zone_id: int, zone: str, span: Period) -> Report:
        """The report over `span`, not stored (what `make_report` stores)."""
        ...

    async def zone_reports(self, zone_id: int | None, limit: int = 60) -> list[StoredReport]: ...

    async def zone_report(self, report_id: int) -> tuple[int, Report] | None:
        """A stored report and its zone's id."""
        ...


class ReportScheduler(WokenTask):
    """Makes the reports that are due, every `ROUND_S`; `clock` (epoch ms) injectable."""

    name = "daily reports"
    retry_s = ROUND_S

    def __init__(
        self,
        store: ReportStore,
        clock: Callable[[], int] = now_ms,
        on_made: Callable[[], None] | None = None,
        leases: Leases | None = None,
    ) -> None:
        super().__init__(leases)
        self._store = store
        self._clock = clock
        self._on_made = on_made  # wakes the mailer
        self.made = 0

    async def round(self) -> float:
        await self.make_due()
        return ROUND_S

    async def make_due(self) -> int:
        now = self._clock()
        made = 0
        for schedule in await self._store.report_schedules():
            for day in due_days(now, schedule.send_at, schedule.since, schedule.last):
                if await self._store.make_report(schedule, day, now) is not None:
                    made += 1
                    log.info("daily report of %s for %s made", schedule.zone, day)
        if made and self._on_made is not None:
            self._on_made()
        self.made += made
        return made
