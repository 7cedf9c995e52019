"""The backend as an ASGI application: `create_app(database_url)`.

Routes: `POST /api/v1/frames` (ingest.py, for phones), `GET /console`,
`/console/login`, `GET /api/v1/console/stream`, `GET /api/v1/alarms/{id}`
(console.py, for CIC operators). Starting the app opens the store and applies
the migrations; stopping it ends the streams and closes the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from msa.backend import console, ingest, openapi, phone_reports
from msa.backend.admission import RoutineGate
from msa.backend.alarms import AlarmAnnouncer
from msa.backend.errors import EXCEPTION_HANDLERS
from msa.backend.push import LocalHub
from msa.backend.services import Services
from msa.backend.store import open_store


def create_app(database_url: str) -> Starlette:
    """The backend on the database at `database_url` (see `msa.backend.store`).

    `app.state.channel` is the push channel (a `LocalHub`); once started,
    `app.state.services` holds the store, channel and announcer.
    """
    channel = LocalHub()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_store(database_url)
        announcer = AlarmAnnouncer(store, channel)
        try:
            await store.migrate()
            app.state.services = Services(store, channel, announcer)
            yield
        finally:
            channel.close()
            await announcer.aclose()
            await store.close()

    app = Starlette(
        routes=[*ingest.routes, *phone_reports.routes, *openapi.routes, *console.routes],
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.channel = channel
    app.state.routine = RoutineGate()
    app.state.database_url = database_url
    return app
