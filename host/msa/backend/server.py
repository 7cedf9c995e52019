"""Serving the backend with uvicorn, as a command or as a subprocess of a test.

Once it listens, `serve` prints exactly one line to stdout,

    msa backend: listening on http://127.0.0.1:PORT

(with the bound port, also for `port=0`; `https://` when given a certificate),
and nothing else goes to stdout: logs go to stderr, the access log too (one line
per request, access_log.py). SIGTERM or SIGINT end the alarm streams, finish the requests under
way, close the database, and return.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from msa.backend.access_log import LOGGER as ACCESS_LOGGER
from msa.backend.access_log import AccessLog
from msa.backend.app import create_app
from msa.backend.keys import Kek
from msa.backend.nodes import LEASE_S
from msa.backend.notify import SmtpConfig
from msa.backend.push import PushChannel

READY_PREFIX = "msa backend: listening on "
GRACE_S = 5
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, channel: PushChannel) -> None:
        super().__init__(config)
        self._channel = channel
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        # What exists now (modules, the app, the pools) lives as long as the
        # process: out of the collector's sight, a full collection takes a couple
        # of ms instead of 10-20 ms during which no alarm moves (msa bench flood).
        gc.freeze()
        port = self.servers[0].sockets[0].getsockname()[1]
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if self.config.is_ssl else "http"
        print(f"{READY_PREFIX}{scheme}://{host}:{port}", flush=True)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own re-raises the signal after its graceful shutdown, so that
        # the process dies of it; after a clean shutdown we exit 0 instead.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # Open alarm streams never end by themselves: end them, or shutdown waits.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._channel.close)


def _log_config(level: str) -> dict[str, object]:
    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout: the ready line only
    config["loggers"]["msa"] = {"handlers": ["default"], "level": level.upper()}
    # Written only when --access-log put the middleware in: whatever the level.
    access = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"][ACCESS_LOGGER] = access
    return config


@dataclass(frozen=True, slots=True)
class Tls:
    """A certificate (PEM, with its chain) and its private key: serve HTTPS."""

    cert_file: str
    key_file: str


def serve(
    database_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    access_log: bool = False,
    log_level: str = "warning",
    smtp: SmtpConfig | None = None,
    kek: Kek,
    tls: Tls | None = None,
    forwarded_allow_ips: str | None = None,
    public_url: str | None = None,
    tiles: str | None = None,
    lease_s: float = LEASE_S,
) -> bool:
    """Serve until SIGTERM/SIGINT; False when the server could not start.

    `forwarded_allow_ips` (addresses of reverse proxies, comma-separated) turns
    on X-Forwarded-For/-Proto from those, and only those; without it they are
    ignored. `public_url` is the origin browsers see, `tiles` the console map's tile
    URL, `lease_s` the scheduled jobs' leases (see `create_app`).
    """
    app = create_app(
        database_url, smtp=smtp, kek=kek, public_url=public_url, tiles=tiles, lease_s=lease_s
    )
    config = uvicorn.Config(
        AccessLog(app) if access_log else app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,  # uvicorn's would log query strings: log-in codes
        log_level=log_level,
        log_config=_log_config(log_level),
        timeout_graceful_shutdown=GRACE_S,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        ssl_certfile=None if tls is None else tls.cert_file,
        ssl_keyfile=None if tls is None else tls.key_file,
    )
    server = _Server(config, app.state.channel)
    # What the imports and the app built live as long as the process: out of the
    # cyclic GC's full collections, whose pauses an alarm would wait for.
    gc.collect()
    gc.freeze()
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind or start the app
        return False
    return server.started
