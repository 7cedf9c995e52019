"""Fixtures: a database on each engine, a started backend app, a backend subprocess.

PostgreSQL tests run on a throwaway cluster (msa.backend.pgcluster). Without
PostgreSQL they skip, unless MSA_REQUIRE_POSTGRES=1 (CI), where they fail.
"""

from __future__ import annotations

import asyncio
import itertools
import select
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from msa import children
from msa.backend import pgcluster
from msa.backend.app import create_app
from msa.backend.keys import Kek
from msa.backend.login import issue_login_link
from msa.backend.notify import SmtpConfig
from msa.backend.process import serve_command
from msa.backend.seed import DEMO_OPERATOR, seed_demo
from msa.backend.server import READY_PREFIX
from msa.backend.store import Store, open_store
from msa.backend.store.sessions import session_store
from msa.backend.supervision import Rules, Sweep
from msa.timefmt import now_ms
from tests.backend.contract import Contract
from tests.backend.util import DEVICE_ID, KEY, OPERATOR_TOKEN, PHONE_TOKEN, ManualClock

HOURLY = Rules(sweep_s=3600)

ROOT = Path(__file__).resolve().parents[2]
_database_numbers = itertools.count(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A case marked sqlite_only has no PostgreSQL variant: not a skip, not there."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgres"
        (dropped if on_postgres and item.get_closest_marker("sqlite_only") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/msa.db"
    pg: pgcluster.PgCluster = request.getfixturevalue("pg_cluster")
    return pg.create_database(f"test_{next(_database_numbers)}")


@pytest.fixture
async def store(database_url: str, kek: Kek) -> AsyncIterator[Store]:
    """The migrated store, empty."""
    opened = await open_store(database_url, kek)
    await opened.migrate()
    yield opened
    await opened.close()


async def seed(store: Store) -> dict[str, object]:
    return await seed_demo(
        store, device_id=DEVICE_ID, key=KEY, phone_token=PHONE_TOKEN, operator_token=OPERATOR_TOKEN
    )


@dataclass
class Backend:
    app: Starlette
    client: httpx.AsyncClient
    store: Store
    seeded: dict[str, object]
    contract: Contract
    clock: ManualClock

    async def sweep(self, at: int) -> Sweep:
        """The supervisor's round, at `at` (epoch ms)."""
        self.clock.now = at
        supervisor = self.app.state.services.supervisor
        await supervisor.round()
        return supervisor.last


@asynccontextmanager
async def started_backend(
    database_url: str, kek: Kek, smtp: SmtpConfig | None = None, seeded: bool = True
) -> AsyncIterator[Backend]:
    """The started app with the demo case seeded (unless another node on the same
    database did: `seeded` False), and an HTTP client on it; its magistrate's mails
    go to `smtp` (or stay queued without it).

    Every answer the client gets is checked against the OpenAPI description.
    """
    clock = ManualClock(now_ms())
    # The tests sweep when they choose (Backend.sweep); the app's own round runs once.
    app = create_app(database_url, smtp=smtp, kek=kek, supervision=HOURLY, clock=clock)
    contract = Contract()
    async with app.router.lifespan_context(app):
        store = app.state.services.store
        seeds = await seed(store) if seeded else {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://backend",
            event_hooks={"response": [contract.on_response]},
        ) as client:
            yield Backend(app, client, store, seeds, contract, clock)


@pytest.fixture
async def backend(database_url: str, kek: Kek) -> AsyncIterator[Backend]:
    """The started app with the demo case seeded, its answers contract-checked."""
    async with started_backend(database_url, kek) as started:
        yield started


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    log: Path

    def stop(self, timeout_s: float = 15) -> int:
        """SIGTERM, then the exit code; SIGKILL after `timeout_s` (and TimeoutExpired)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def start_server(
    database_url: str,
    log: Path,
    kek_file: Path,
    timeout_s: float = 30,
    options: Sequence[str] = (),
) -> Server:
    """`msa backend serve --port 0 [options]` as a subprocess, once it printed its address."""
    with log.open("w") as stderr:
        process = subprocess.Popen(
            serve_command(database_url, kek_file, 0, options),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=children.preexec(),
        )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    line = process.stdout.readline() if ready else ""
    if not line.startswith(READY_PREFIX):
        process.kill()
        process.wait()
        pytest.fail(f"backend did not start ({line!r}): {log.read_text()}")
    return Server(process, line.removeprefix(READY_PREFIX).strip(), log)


async def seed_database(database_url: str, kek: Kek) -> None:
    seeding = await open_store(database_url, kek)
    try:
        await seeding.migrate()
        await seed(seeding)
    finally:
        await seeding.close()


async def login_path(database_url: str, operator: str = DEMO_OPERATOR, **options: int) -> str:
    """A fresh single-use log-in link's path (`/console/login?code=…`) for `operator`."""
    store = await open_store(database_url)
    try:
        link = await issue_login_link(session_store(store), operator, **options)
    finally:
        await store.close()
    assert link is not None, f"no operator {operator!r}"
    return link.path


async def count_rows(database_url: str) -> dict[str, int]:
    reading = await open_store(database_url)
    try:
        return await reading.counts()
    finally:
        await reading.close()


@pytest.fixture
def server(database_url: str, tmp_path: Path, kek: Kek, kek_file: Path) -> Iterator[Server]:
    """A seeded backend subprocess on an ephemeral port."""
    asyncio.run(seed_database(database_url, kek))
    running = start_server(database_url, tmp_path / "backend.log", kek_file)
    yield running
    if running.process.poll() is None:
        running.stop()
