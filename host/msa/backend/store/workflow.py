"""The store's side of the operator workflow, the location trail and the mail outbox.

`WorkflowSql` is mixed into `SqlStore`. A step is one transaction: read the
alarm's state, let `msa.backend.workflow.decide` judge it, update the alarm only
if it did not change meanwhile (its `revision`), audit the step, and do what the
step brings with it (the magistrate's mail queued, the measure extended, the
date support starts). A refusal raises before anything is written.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from msa.backend import notify, workflow
from msa.backend.store.base import (
    AuditEntry,
    FixOutcome,
    Location,
    Notification,
    Operator,
    StepResult,
    StoreUnavailable,
    ZoneArea,
)
from msa.backend.store.evidence import audit_as_evidence, chain_fix
from msa.backend.store.queries import NOTIFICATION_COLUMNS, ZONE_AREAS, Row
from msa.backend.store.sql import Connection, audit_entries, fetchrow
from msa.backend.workflow import Close, ConfirmTest, Dispatch, Step
from msa.errors import UsageError

BELGIUM = ZoneInfo("Europe/Brussels")
_ATTEMPTS = 5  # a step retried when the alarm changed between its read and its update

STATE = """
SELECT a.id, a.kind, a.status, a.revision, a.case_id, a.pressed_at, a.patrol,
       pz.name AS patrol_zone, a.outcome, a.pv_number,
       f.received_at, f.device_id, f.counter,
       c.reference, c.ends_on, jd.name AS judicial_district, jd.magistrate_email,
       z.name AS managing_zone,
       p.full_name, p.national_register_number, p.confidential
FROM alarms a
JOIN frames f ON f.id = a.frame_id
JOIN cases c ON c.id = a.case_id
JOIN judicial_districts jd ON jd.id = c.district_id
JOIN police_zones z ON z.id = c.managing_zone_id
JOIN persons p ON p.id = a.person_id
LEFT JOIN police_zones pz ON pz.id = a.patrol_zone_id
WHERE a.id = $1"""

# Each step's update; $1 alarm, $2 the revision read, $3 when, $4 operator, then its data.
UPDATES = {
    "acknowledge": "status = 'acknowledged', acknowledged_at = $3, acknowledged_by = $4",
    "dispatch": "status = 'dispatched', dispatched_at = $3, dispatched_by = $4, patrol = $5,"
    " patrol_zone_id = $6",
    "on_scene": "status = 'on_scene', on_scene_at = $3, on_scene_by = $4",
    "close": "status = 'closed', closed_at = $3, closed_by = $4, outcome = $5, pv_number = $6",
    "confirm_test": "status = 'closed', closed_at = $3, closed_by = $4, outcome = 'test'",
}


def belgian_day(ms: int) -> str:
    """The calendar day in Belgium of an instant, `YYYY-MM-DD`."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(BELGIUM).date().isoformat()


class WorkflowSql:
    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    @abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[Connection]: ...

    async def apply_step(
        self, alarm_id: int, step: Step, operator: Operator, at: int
    ) -> StepResult | None:
        for _ in range(_ATTEMPTS):
            async with self._transaction() as conn:
                state = await fetchrow(conn, STATE, alarm_id)
                if state is None:
                    return None
                verdict = workflow.decide(_state(state), step)
                if verdict == "unchanged":
                    return StepResult("unchanged")
                data = await _step_data(conn, step)
                updated = await fetchrow(
                    conn,
                    f"UPDATE alarms SET {UPDATES[step.name]}, revision = revision + 1"
                    " WHERE id = $1 AND revision = $2 RETURNING id",
                    alarm_id,
                    state["revision"],
                    at,
                    operator.id,
                    *data,
                )
                if updated is None:
                    continue  # it changed meanwhile: judge the step again on what it is now
                actor = f"operator:{operator.id}"
                await audit_as_evidence(
                    conn,
                    AuditEntry(
                        at,
                        actor,
                        f"alarm.{step.name}",
                        f"alarm:{alarm_id}",
                        state["case_id"],
                        _detail(step),
                    ),
                )
                return await _consequences(conn, state, step, actor, at)
        raise StoreUnavailable(f"alarm {alarm_id} kept changing during a {step.name}; retry")

    async def add_fix(
        self, token_sha256: str, alarm_id: int, fix: Location, received_at: int
    ) -> FixOutcome:
        async with self._transaction() as conn:
            row = await fetchrow(
                conn,
                "SELECT ph.id AS phone_id, ph.device_id AS phone_device, pt.epoch AS token_epoch,"
                " a.id AS alarm_id, a.status, a.case_id, f.device_id AS alarm_device, f.counter"
                " FROM phone_tokens pt JOIN phones ph ON ph.id = pt.phone_id"
                " LEFT JOIN alarms a ON a.id = $2 LEFT JOIN frames f ON f.id = a.frame_id"
                " WHERE pt.token_sha256 = $1",
                token_sha256,
                alarm_id,
            )
            if row is None:
                return "unknown_phone"
            if row["alarm_id"] is None:
                return "unknown_alarm"
            # A token reaches the alarms of its own key epoch only (SPEC §4).
            same_epoch = int(row["counter"]) >> 24 == row["token_epoch"]
            if row["phone_device"] != row["alarm_device"] or not same_epoch:
                return "not_linked"
            if row["status"] == "closed":
                return "closed"
            inserted = await fetchrow(
                conn,
                "INSERT INTO alarm_locations (alarm_id, phone_id, lat, lon, accuracy_m, fix_at,"
                " received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (alarm_id, fix_at) DO NOTHING RETURNING id",
                alarm_id,
                row["phone_id"],
                fix.lat,
                fix.lon,
                fix.accuracy_m,
                fix.fix_at,
                received_at,
            )
            if inserted is None:
                return "duplicate"
            await conn.execute("UPDATE alarms SET revision = revision + 1 WHERE id = $1", alarm_id)
            facts = {"alarm_id": alarm_id, "lat": fix.lat, "lon": fix.lon,
                     "accuracy_m": fix.accuracy_m, "fix_at": fix.fix_at,
                     "received_at": received_at}  # fmt: skip
            await chain_fix(conn, int(row["case_id"]), int(inserted["id"]), facts)
        return "committed"

    async def zone_areas(self) -> list[ZoneArea]:
        async with self._connection() as conn:
            return [ZoneArea(**row) for row in await conn.fetch(ZONE_AREAS)]

    async def add_zone_area(self, area: ZoneArea, district: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO judicial_districts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                district,
            )
            await conn.execute(
                "INSERT INTO police_zones (name, district_id)"
                " SELECT $1, id FROM judicial_districts WHERE name = $2"
                " ON CONFLICT (name) DO NOTHING",
                area.zone,
                district,
            )
            found = await fetchrow(
                conn,
                "SELECT d.name FROM police_zones z JOIN judicial_districts d"
                " ON d.id = z.district_id WHERE z.name = $1",
                area.zone,
            )
            if found is not None and found["name"] != district:
                raise UsageError(
                    f"{area.zone} is in the judicial district {found['name']}, not {district}: "
                    "nothing was added"
                )
            await conn.execute(
                "INSERT INTO zone_areas (zone_id, south, west, north, east)"
                " SELECT id, $2, $3, $4, $5 FROM police_zones WHERE name = $1"
                " ON CONFLICT (zone_id, south, west, north, east) DO NOTHING",
                area.zone,
                area.south,
                area.west,
                area.north,
                area.east,
            )

    async def set_magistrate_email(self, district: str, email: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE judicial_districts SET magistrate_email = $2 WHERE name = $1",
                district,
                email,
            )

    async def due_notifications(self, now: int, limit: int = 20) -> list[Notification]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {NOTIFICATION_COLUMNS} FROM notifications"
                " WHERE sent_at IS NULL AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
                now,
                limit,
            )
        return [Notification(**row) for row in rows]

    async def next_notification_at(self) -> int | None:
        async with self._connection() as conn:
            row = await fetchrow(
                conn, "SELECT min(next_attempt_at) AS due FROM notifications WHERE sent_at IS NULL"
            )
        return None if row is None or row["due"] is None else int(row["due"])

    async def notification_sent(self, notification_id: int, at: int) -> None:
        async with self._transaction() as conn:
            row = await fetchrow(
                conn,
                "UPDATE notifications SET sent_at = $2, attempts = attempts + 1, last_error = NULL"
                " WHERE id = $1 AND sent_at IS NULL RETURNING alarm_id, recipient",
                notification_id,
                at,
            )
            if row is None or row["alarm_id"] is None:  # a mail about no alarm: no card changes
                return
            alarm = await fetchrow(
                conn,
                "UPDATE alarms SET revision = revision + 1 WHERE id = $1 RETURNING case_id",
                row["alarm_id"],
            )
            assert alarm is not None
            await audit_as_evidence(
                conn,
                AuditEntry(
                    at,
                    notify.ACTOR,
                    "magistrate.notified",
                    f"alarm:{row['alarm_id']}",
                    alarm["case_id"],
                    f"mail to {row['recipient']}",
                ),
            )

    async def notification_failed(
        self, notification_id: int, error: str, next_attempt_at: int
    ) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE notifications SET attempts = attempts + 1, last_error = $2,"
                " next_attempt_at = $3 WHERE id = $1 AND sent_at IS NULL",
                notification_id,
                error[:500],
                next_attempt_at,
            )

    async def alarm_audit(self, alarm_id: int) -> list[AuditEntry] | None:
        async with self._connection() as conn:
            if await fetchrow(conn, "SELECT id FROM alarms WHERE id = $1", alarm_id) is None:
                return None
            return await audit_entries(conn, "subject = $1", f"alarm:{alarm_id}")


def _state(row: Row) -> workflow.State:
    return workflow.State(
        row["kind"],
        row["status"],
        row["patrol"],
        row["patrol_zone"],
        row["outcome"],
        row["pv_number"],
    )


async def _step_data(conn: Connection, step: Step) -> tuple[object, ...]:
    if isinstance(step, Dispatch):
        zone = await fetchrow(conn, "SELECT id FROM police_zones WHERE name = $1", step.zone)
        if zone is None:
            raise workflow.Invalid(f"There is no police zone {step.zone!r}; see /api/v1/zones.")
        return (step.patrol, zone["id"])
    if isinstance(step, Close):
        return (step.outcome, step.pv_number)
    return ()


def _detail(step: Step) -> str | None:
    if isinstance(step, Dispatch):
        return f"patrol {step.patrol} ({step.zone})"
    if isinstance(step, Close):
        return f"outcome {step.outcome}, PV {step.pv_number or 'none'}"
    return None


async def _consequences(
    conn: Connection, state: Row, step: Step, actor: str, at: int
) -> StepResult:
    """What a step brings with it, in its transaction."""
    subject = f"alarm:{state['id']}"
    if isinstance(step, ConfirmTest):
        day = belgian_day(state["received_at"])
        started = await fetchrow(
            conn,
            "UPDATE cases SET support_started_on = $2 WHERE id = $1"
            " AND support_started_on IS NULL RETURNING id",
            state["case_id"],
            day,
        )
        if started is not None:
            await audit_as_evidence(
                conn,
                AuditEntry(
                    at,
                    actor,
                    "case.support_start",
                    subject,
                    state["case_id"],
                    f"support from {day}",
                ),
            )
        return StepResult("done")
    if not isinstance(step, Close):
        return StepResult("done")
    extended_to = None
    if step.outcome == "real":
        extended_to = await _extend_measure(conn, state, actor, at)
    notification_id = None
    if step.outcome in workflow.NOTIFY_MAGISTRATE:
        subject_line, body = notify.compose(state, step, extended_to)
        row = await fetchrow(
            conn,
            "INSERT INTO notifications (alarm_id, recipient, subject, body, created_at,"
            " next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            state["id"],
            state["magistrate_email"],
            subject_line,
            body,
            at,
        )
        assert row is not None
        notification_id = row["id"]
    return StepResult("done", extended_to, notification_id)


async def _extend_measure(conn: Connection, state: Row, actor: str, at: int) -> str:
    """+9 months on the case's end; compare-and-set, as another alarm may extend it too."""
    day = belgian_day(state["received_at"])
    for _ in range(_ATTEMPTS):
        row = await fetchrow(conn, "SELECT ends_on FROM cases WHERE id = $1", state["case_id"])
        assert row is not None
        previous = row["ends_on"]
        ends_on = workflow.extended_end(previous, day)
        same_end = "ends_on IS NULL" if previous is None else "ends_on = $3"
        args = (state["case_id"], ends_on) + (() if previous is None else (previous,))
        if await fetchrow(
            conn, f"UPDATE cases SET ends_on = $2 WHERE id = $1 AND {same_end} RETURNING id", *args
        ):
            break
    else:
        raise StoreUnavailable(f"the end of case {state['case_id']} kept changing; retry")
    await conn.execute(
        "INSERT INTO measure_extensions (case_id, alarm_id, previous_ends_on, ends_on, decided_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        state["case_id"],
        state["id"],
        previous,
        ends_on,
        at,
    )
    await audit_as_evidence(
        conn,
        AuditEntry(
            at,
            actor,
            "case.extend",
            f"alarm:{state['id']}",
            state["case_id"],
            f"measure extended by 9 months: ends on {ends_on} (was {previous or 'open'})",
        ),
    )
    return ends_on
