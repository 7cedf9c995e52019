"""Several backend nodes on one PostgreSQL (docs/operations.md, "Several nodes").

Any node takes any phone's frame (ingest is idempotent) and any console. What one
node commits, the others must push to their consoles too: the node that announces
an alarm (a new one, a step, a fix) tells the others over PostgreSQL's
NOTIFY, and every node LISTENs (`AlarmFollower`). A notification can be lost (the
listening connection drops, the telling node dies between its commit and its
NOTIFY), so each node also reads, every `CATCH_UP_S`, the revisions of the new
and open alarms and announces what it has not shown yet: a lost notification
costs up to that much latency, never an alarm.

A scheduled job (the supervision's sweep, the zones' reports) runs on the node
that holds its lease (`Leases`, background.py); the mail outbox is shared by
claims (store/nodes.py). SQLite is one node's: nothing here runs on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from msa.backend.store import Store
from msa.backend.store.base import StoreUnavailable
from msa.timefmt import now_ms
from msa.waiting import cancelled

if TYPE_CHECKING:
    from msa.backend.alarms import AlarmAnnouncer

log = logging.getLogger(__name__)

# This process among the nodes: readable in the job_leases table and the logs.
NODE = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
CHANNEL = "msa_alarms"
CATCH_UP_S = 1.0
RELISTEN_S = 1.0
MAX_PER_NOTIFY = 200  # alarms per NOTIFY: its payload stays far below PostgreSQL's 8000 bytes


LEASE_S = 60.0  # how long a job stays with a node that stopped renewing its lease
MIN_LEASE_S, MAX_LEASE_S = 3.0, 3600.0


def lease_length(seconds: float) -> float:
    """`seconds`, if a lease may be that long; else ValueError saying what may be."""
    if not MIN_LEASE_S <= seconds <= MAX_LEASE_S:  # also refuses nan and inf
        raise ValueError(f"a lease of {seconds:g} s: give {MIN_LEASE_S:g} to {MAX_LEASE_S:g} s")
    return seconds


class Leases:
    """The scheduled jobs' leases, held by this node (`holder`) while it is alive,
    each for `lease_s` from its last renewal."""

    def __init__(
        self,
        store: Store,
        holder: str = NODE,
        clock: Callable[[], int] = now_ms,
        lease_s: float = LEASE_S,
    ) -> None:
        self._store = store
        self.holder = holder
        self._clock = clock  # the wall clock: a lease is about nodes, not the rules' time
        self.lease_s = lease_length(lease_s)

    async def hold(self, job: str) -> bool:
        """Take or renew `job`'s lease; False while another node holds it."""
        lease_ms = int(self.lease_s * 1000)
        return await self._store.take_lease(job, self.holder, self._clock(), lease_ms)


def payloads(changes: list[tuple[int, str | None]], node: str = NODE) -> list[str]:
    """The NOTIFY payloads that tell the other nodes of these alarms' changes."""
    return [
        json.dumps({"node": node, "alarms": changes[i : i + MAX_PER_NOTIFY]}, separators=(",", ":"))
        for i in range(0, len(changes), MAX_PER_NOTIFY)
    ]


def heard(payload: str, node: str = NODE) -> list[tuple[int, str | None]]:
    """The alarms another node told of (none from this node, none from a payload
    that is not one of ours)."""
    try:
        told = json.loads(payload)
        if told["node"] == node:
            return []
        return [
            (alarm_id, change)
            for alarm_id, change in told["alarms"]
            if isinstance(alarm_id, int) and (change is None or isinstance(change, str))
        ]
    except (ValueError, KeyError, TypeError):
        log.error("a notification on %s that is not an msa node's: %.100r", CHANNEL, payload)
        return []


class AlarmFollower:
    """Announces on this node the alarms the other nodes commit and change."""

    def __init__(
        self, store: Store, announcer: AlarmAnnouncer, catch_up_s: float = CATCH_UP_S
    ) -> None:
        self._store = store
        self._announcer = announcer
        self._catch_up_s = catch_up_s
        self._after = 0  # the last alarm id seen: alarms after it are new here
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._after = await self._store.last_alarm_id()
        self._tasks = [
            asyncio.create_task(self._listen(), name="alarm listener"),
            asyncio.create_task(self._catch_up(), name="alarm catch-up"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            await cancelled(task)

    def _heard(self, payload: str) -> None:
        for alarm_id, change in heard(payload):
            self._announcer.announce(alarm_id, change, tell=False)

    async def _listen(self) -> None:
        while True:
            try:
                listening = await self._store.listen(CHANNEL, self._heard)
            except StoreUnavailable as error:
                log.warning("not listening to the other nodes (%s): catching up meanwhile", error)
                await asyncio.sleep(RELISTEN_S)
                continue
            if listening is None:
                return  # one node's database
            try:
                await listening.lost.wait()
                log.warning("lost the other nodes' notifications: listening again")
            finally:
                await listening.aclose()

    async def _catch_up(self) -> None:
        while True:
            await asyncio.sleep(self._catch_up_s)
            try:
                await self.catch_up()
            except StoreUnavailable as error:
                log.warning("alarm catch-up: %s", error)
            except Exception:  # logged; the next round tries again
                log.exception("alarm catch-up failed")

    async def catch_up(self) -> int:
        """Announce every alarm newer here than shown; how many."""
        announcer = self._announcer
        revisions = await self._store.alarm_revisions(self._after, announcer.shown_open())
        missed = 0
        for alarm_id, revision in sorted(revisions.items()):
            shown = announcer.shown_revision(alarm_id)
            if shown is not None and shown >= revision:
                continue
            new = shown is None and alarm_id > self._after
            announcer.announce(alarm_id, None if new else "state", tell=False)
            missed += 1
        self._after = max([self._after, *revisions])
        return missed
