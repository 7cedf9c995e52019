"""The store's side of the tech desk's inventory (msa/backend/inventory.py).

`InventorySql` is mixed into `SqlStore`; its `_assign` and `_mark_lost` run inside
the transactions of provisioning and revocation (store/sql.py), so a button is never
registered for a person without being assigned to her, nor revoked without
being lost. Every change is also a row of `inventory_history`.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

from msa.backend import inventory
from msa.backend.inventory import InventoryError, State
from msa.backend.store.base import AuditEntry, Decommission, DistrictStock
from msa.backend.store.evidence import audit_as_evidence
from msa.backend.store.sql import Connection, fetchrow
from msa.timefmt import now_ms


class InventorySql:
    @abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    @abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[Connection]: ...

    async def inventory_add(self, district: str, device_ids: list[int]) -> list[int]:
        name = inventory.check_district(district)
        added = []
        async with self._transaction() as conn:
            district_id = await _district(conn, name)
            for device_id in device_ids:
                row = await _row(conn, device_id)
                now = _state(row)
                inventory.check_added(f"{device_id:08x}", now)
                if now == "stock" and row is not None and row["district_id"] == district_id:
                    continue  # already there: adding it again changes nothing
                await _set(conn, device_id, district_id, "stock", None, f"added to {name}")
                added.append(device_id)
        return added

    async def inventory_move(self, device_id: int, to: State, note: str) -> bool:
        async with self._transaction() as conn:
            row = await _row(conn, device_id)
            now = _state(row)
            inventory.check_moved(f"{device_id:08x}", now, to)
            assert row is not None
            if now == to:
                return False
            await _set(conn, device_id, row["district_id"], to, None, note or f"moved to {to}")
        return True

    async def device_known(self, device_id: int) -> bool:
        async with self._connection() as conn:
            found = await fetchrow(conn, "SELECT 1 FROM devices WHERE device_id = $1", device_id)
        return found is not None

    async def test_alarm_confirmed(self, device_id: int, person_id: int, epoch: int) -> bool:
        # The epoch's frames count from epoch << 24 (protocol/SPEC.md §4).
        async with self._connection() as conn:
            found = await fetchrow(
                conn,
                "SELECT 1 FROM alarms a JOIN frames f ON f.id = a.frame_id"
                " WHERE f.device_id = $1 AND a.person_id = $2"
                " AND f.counter >= $3 AND f.counter < $4"
                " AND a.kind = 'test_alarm' AND a.status = 'closed'",
                device_id,
                person_id,
                epoch << 24,
                (epoch + 1) << 24,
            )
        return found is not None

    async def decommission_device(
        self, device_id: int, to: State, actor: str
    ) -> Decommission | None:
        if to not in ("stock", "repair"):
            raise InventoryError(f"a decommissioned button goes to stock or repair, not {to!r}")
        device = f"{device_id:08x}"
        async with self._transaction() as conn:
            found = await fetchrow(
                conn,
                "SELECT d.status, d.person_id, c.id AS case_id, c.reference, c.district_id"
                " FROM devices d LEFT JOIN persons p ON p.id = d.person_id"
                " LEFT JOIN cases c ON c.id = p.case_id WHERE d.device_id = $1",
                device_id,
            )
            if found is None:
                return None
            reference = found["reference"]
            if found["status"] == "decommissioned":
                row = await _row(conn, device_id)
                state = row["state"] if row else to
                return Decommission(device_id, reference, 0, 0, state, False)
            at = now_ms()
            keys = await conn.fetch(
                "UPDATE device_keys SET status = 'revoked', ended_at = $2"
                " WHERE device_id = $1 AND status <> 'revoked' RETURNING epoch",
                device_id,
                at,
            )
            tokens = await conn.fetch(
                "DELETE FROM phone_tokens WHERE phone_id IN"
                " (SELECT id FROM phones WHERE device_id = $1) RETURNING token_sha256",
                device_id,
            )
            await conn.execute(
                "UPDATE devices SET status = 'decommissioned' WHERE device_id = $1", device_id
            )
            row = await _row(conn, device_id)
            district_id = row["district_id"] if row else found["district_id"]
            note = f"decommissioned from case {reference}" if reference else "decommissioned"
            if district_id is not None:  # a device of no case and no district: not counted
                await _set(conn, device_id, district_id, to, None, note)
            await audit_as_evidence(
                conn,
                AuditEntry(
                    at,
                    actor,
                    "device.decommissioned",
                    f"device:{device}",
                    found["case_id"],
                    f"wiped and proven blank; {len(keys)} key(s) and {len(tokens)} phone "
                    f"token(s) revoked; to {to}",
                ),  # fmt: skip
            )
        return Decommission(device_id, reference, len(keys), len(tokens), to, True)

    async def _assign(self, conn: Connection, device_id: int, person_id: int) -> None:
        """Provisioning's part: the button is this person's, in her case's district."""
        row = await _row(conn, device_id)
        person = await _case_of(conn, person_id)
        assert person is not None  # provisioning found the person first
        now = _state(row)
        holder = row["person_id"] if row else None
        holder_case = None
        if holder is not None and holder != person_id:
            found = await _case_of(conn, holder)
            holder_case = found["reference"] if found else None
        inventory.check_assigned(f"{device_id:08x}", now, holder, person_id, holder_case)
        if now == "assigned" and holder == person_id:
            return
        note = f"assigned in case {person['reference']}"
        await _set(conn, device_id, person["district_id"], "assigned", person_id, note)

    async def _mark_lost(self, conn: Connection, device_id: int, reason: str) -> None:
        """Revocation's part: a button in the inventory is lost (or stolen) from now on."""
        row = await _row(conn, device_id)
        if row is not None and row["state"] != "lost":
            await _set(conn, device_id, row["district_id"], "lost", row["person_id"], reason)

    async def set_min_stock(self, district: str, minimum: int) -> None:
        name = inventory.check_district(district)
        if not 0 <= minimum <= inventory.MAX_MIN_STOCK:
            raise InventoryError(f"--min is 0 to {inventory.MAX_MIN_STOCK}, not {minimum}")
        async with self._transaction() as conn:
            district_id = await _district(conn, name)
            await conn.execute(
                "UPDATE judicial_districts SET min_stock = $2 WHERE id = $1", district_id, minimum
            )
            await _check_stock(conn, district_id)

    async def inventory_counts(self, district: str | None = None) -> list[DistrictStock]:
        async with self._connection() as conn:
            if district is None:
                districts = await conn.fetch(
                    "SELECT id, name, min_stock FROM judicial_districts ORDER BY name"
                )
            else:
                districts = await conn.fetch(
                    "SELECT id, name, min_stock FROM judicial_districts WHERE name = $1",
                    district,
                )
            counts = await conn.fetch(
                "SELECT district_id, state, count(*) AS n FROM inventory"
                " GROUP BY district_id, state"
            )
        by_district: dict[int, dict[str, int]] = {}
        for row in counts:
            by_district.setdefault(row["district_id"], {})[row["state"]] = int(row["n"])
        return [
            DistrictStock(
                d["name"],
                {state: by_district.get(d["id"], {}).get(state, 0) for state in inventory.STATES},
                int(d["min_stock"]),
            )
            for d in districts
        ]


async def _case_of(conn: Connection, person_id: int) -> Any:
    """The district and reference of the person's case."""
    return await fetchrow(
        conn,
        "SELECT c.district_id, c.reference FROM persons p JOIN cases c ON c.id = p.case_id"
        " WHERE p.id = $1",
        person_id,
    )


def _state(row: Any) -> State | None:
    """The inventory state of a row of `_row`, None for a button not in it."""
    return cast(State, row["state"]) if row else None


async def _row(conn: Connection, device_id: int) -> Any:
    return await fetchrow(
        conn,
        "SELECT device_id, district_id, state, person_id FROM inventory WHERE device_id = $1",
        device_id,
    )


async def _district(conn: Connection, name: str) -> int:
    await conn.execute(
        "INSERT INTO judicial_districts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name
    )
    row = await fetchrow(conn, "SELECT id FROM judicial_districts WHERE name = $1", name)
    assert row is not None
    return int(row["id"])


async def _set(
    conn: Connection,
    device_id: int,
    district_id: int,
    state: State,
    person_id: int | None,
    note: str,
) -> None:
    at = now_ms()
    before = await _row(conn, device_id)
    await conn.execute(
        "INSERT INTO inventory (device_id, district_id, state, person_id, updated_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO UPDATE SET"
        " district_id = excluded.district_id, state = excluded.state,"
        " person_id = excluded.person_id, updated_at = excluded.updated_at",
        device_id,
        district_id,
        state,
        person_id,
        at,
    )
    await conn.execute(
        "INSERT INTO inventory_history (device_id, at, state, district_id, person_id, note)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        device_id,
        at,
        state,
        district_id,
        person_id,
        note,
    )
    for district in {district_id, before["district_id"] if before else district_id}:
        await _check_stock(conn, district)


async def _check_stock(conn: Connection, district_id: int) -> None:
    """Under its level, the district's reference magistrate is mailed, once per
    shortage (the mail outbox sends it, store/workflow.py); back at its level, the
    next shortage will be mailed again."""
    district = await fetchrow(
        conn,
        "SELECT name, min_stock, magistrate_email, shortage_mailed_at FROM judicial_districts"
        " WHERE id = $1",
        district_id,
    )
    counted = await fetchrow(
        conn,
        "SELECT count(*) AS n FROM inventory WHERE district_id = $1 AND state = 'stock'",
        district_id,
    )
    stock, minimum = int(counted["n"]), int(district["min_stock"])
    mailed = district["shortage_mailed_at"] is not None
    if stock < minimum and not mailed:
        at = now_ms()
        subject, body = inventory.shortage_mail(district["name"], stock, minimum)
        await conn.execute(
            "INSERT INTO notifications (alarm_id, recipient, subject, body, created_at,"
            " next_attempt_at) VALUES (NULL, $1, $2, $3, $4, $4)",
            district["magistrate_email"],
            subject,
            body,
            at,
        )
        await conn.execute(
            "UPDATE judicial_districts SET shortage_mailed_at = $2 WHERE id = $1", district_id, at
        )
    elif stock >= minimum and mailed:
        await conn.execute(
            "UPDATE judicial_districts SET shortage_mailed_at = NULL WHERE id = $1", district_id
        )
