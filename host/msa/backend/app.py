"""The backend as an ASGI application: `create_app(database_url, kek=kek)`.

Routes: `POST /api/v1/frames` (ingest.py) and `POST /api/v1/alarms/{id}/locations`
(locations.py), for phones; `GET /console`, `/console/login`, `/console/logout`
(login.py), `GET /api/v1/console/stream`, `GET /api/v1/alarms/{id}` (console.py) and the
workflow steps (actions.py), for CIC operators; `GET /api/v1/openapi.json`
(openapi.py) describes them all. Starting the app opens the store,
applies the migrations and starts the magistrate's mailer (with an SMTP server);
stopping it ends the streams and closes the store.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from msa.backend import (
    actions,
    console,
    daily_report_page,
    district_pages,
    ingest,
    inventory_page,
    locations,
    login,
    openapi,
    phone_reports,
    supervision_page,
    zone_cases,
)
from msa.backend.admission import RoutineGate
from msa.backend.alarms import AlarmAnnouncer
from msa.backend.auth import SessionPolicy
from msa.backend.chainer import EvidenceChainer
from msa.backend.contexts import ContextCache
from msa.backend.daily_report import ReportScheduler
from msa.backend.deliveries import DeliveryAudit
from msa.backend.errors import EXCEPTION_HANDLERS
from msa.backend.failsafe import Failsafe
from msa.backend.keys import Kek
from msa.backend.nodes import LEASE_S, AlarmFollower, Leases
from msa.backend.notify import Notifier, SmtpConfig
from msa.backend.push import LocalHub
from msa.backend.services import Services
from msa.backend.store import open_store
from msa.backend.supervision import Rules, Supervisor
from msa.timefmt import now_ms

log = logging.getLogger(__name__)


def create_app(
    database_url: str,
    *,
    smtp: SmtpConfig | None = None,
    kek: Kek,
    public_url: str | None = None,
    supervision: Rules | None = None,
    clock: Callable[[], int] = now_ms,
    tiles: str | None = None,
    lease_s: float = LEASE_S,
) -> Starlette:
    """The backend on the database at `database_url` (see `msa.backend.store`), its
    device keys wrapped under `kek` (msa.backend.keys).

    `smtp` is where the magistrate's mails go; without it they stay queued in the
    outbox (and are sent by the next backend started with one). `public_url`
    (`https://cic.example`) is the origin browsers use, when a proxy stands between.
    `supervision` sets the sweep's rules (msa.backend.supervision), and `clock`
    (epoch ms) is the time its rules judge by. `tiles`
    (`https://tile.example/{z}/{x}/{y}.png`) is where the console's trail map takes
    its tiles; without it the trail is drawn on a plain grid. `lease_s`: with other
    nodes on the database, how long a scheduled job stays with a node that stopped
    renewing its lease (msa/backend/nodes.py).
    `app.state.channel` is the push channel (a `LocalHub`); once started,
    `app.state.services` holds the store, channel, announcer, delivery audit and notifier.
    """
    channel = LocalHub()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_store(database_url, kek)
        several = store.dialect == "postgresql"  # nodes may share it (msa/backend/nodes.py)
        leases = Leases(store, lease_s=lease_s) if several else None
        announcer = AlarmAnnouncer(store, channel, nodes=several)
        deliveries = DeliveryAudit(store)
        notifier = None
        chainer = None
        supervisor = None
        reports = None
        follower = None
        try:
            await store.migrate()
            if several:
                follower = AlarmFollower(store, announcer)
                await follower.start()
            if smtp is not None:
                notifier = Notifier(
                    store, smtp, lambda alarm_id: announcer.announce(alarm_id, "magistrate")
                )
                notifier.start()
            else:
                log.warning("no SMTP server (--smtp): the magistrate's mails stay queued")
            chainer = EvidenceChainer(store)
            chainer.start()
            supervisor = Supervisor(store, supervision, clock, leases)
            supervisor.start()
            reports = ReportScheduler(store, clock, notifier.wake if notifier else None, leases)
            reports.start()
            app.state.services = Services(
                store,
                channel,
                announcer,
                deliveries,
                notifier,
                chainer,
                supervisor,
                reports,
                follower,
            )
            yield
        finally:
            channel.close()
            if follower is not None:
                await follower.aclose()
            if reports is not None:
                await reports.aclose()
            if supervisor is not None:
                await supervisor.aclose()
            if chainer is not None:
                await chainer.aclose()
            if notifier is not None:
                await notifier.aclose()
            await announcer.aclose()
            await deliveries.aclose()  # what the consoles were sent, audited before it closes
            await store.close()

    app = Starlette(
        routes=[
            *ingest.routes,
            *phone_reports.routes,
            *locations.routes,
            *actions.routes,
            *console.routes,
            *inventory_page.routes,
            *supervision_page.routes,
            *daily_report_page.routes,
            *zone_cases.routes,
            *district_pages.routes,
            *login.routes,
            *openapi.routes,
        ],
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(Failsafe)],
    )
    app.state.channel = channel
    app.state.routine = RoutineGate()
    app.state.contexts = ContextCache()
    app.state.database_url = database_url
    app.state.session_policy = SessionPolicy(public_url)
    app.state.tiles = tiles
    app.state.clock = clock
    return app
