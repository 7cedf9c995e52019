"""What the request handlers share: the store, the push channel, the announcer, the
delivery audit, the mailer."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from msa.backend.alarms import AlarmAnnouncer
from msa.backend.chainer import EvidenceChainer
from msa.backend.daily_report import ReportScheduler
from msa.backend.deliveries import DeliveryAudit
from msa.backend.nodes import AlarmFollower
from msa.backend.notify import Notifier
from msa.backend.push import PushChannel
from msa.backend.store import Store
from msa.backend.supervision import Supervisor


@dataclass(frozen=True, slots=True)
class Services:
    store: Store
    channel: PushChannel
    announcer: AlarmAnnouncer
    deliveries: DeliveryAudit  # the audit of what the consoles were sent
    notifier: Notifier | None = None  # None: no SMTP server configured, mails stay queued
    chainer: EvidenceChainer | None = None  # chains the alarms into their case's evidence
    supervisor: Supervisor | None = None  # raises and ends the supervision events
    reports: ReportScheduler | None = None  # makes and mails the zones' daily reports
    follower: AlarmFollower | None = None  # several nodes: the others' alarms, pushed here too


def services(request: Request) -> Services:
    """The running app's services (set up by its lifespan, see app.py)."""
    found = getattr(request.app.state, "services", None)
    if found is None:
        raise RuntimeError("the backend is not started: run the app with its lifespan")
    return found
