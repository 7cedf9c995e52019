"""Serving the backend with uvicorn, as a command or as a subprocess of a test.

Once it listens, `serve` prints exactly one line to stdout,

    msa backend: listening on http://127.0.0.1:PORT

(with the bound port, also for `port=0`), and nothing else goes to stdout: logs go
to stderr. SIGTERM or SIGINT end the alarm streams, finish the requests under
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
from types import FrameType

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from msa.backend.app import create_app
from msa.backend.keys import Kek
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
        print(f"{READY_PREFIX}http://{host}:{port}", flush=True)

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
    return config


def serve(
    database_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    access_log: bool = False,
    log_level: str = "warning",
    smtp: SmtpConfig | None = None,
    kek: Kek,
) -> bool:
    """Serve until SIGTERM/SIGINT; False when the server could not start."""
    app = create_app(database_url, smtp=smtp, kek=kek)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=access_log,
        log_level=log_level,
        log_config=_log_config(log_level),
        timeout_graceful_shutdown=GRACE_S,
    )
    server = _Server(config, app.state.channel)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind or start the app
        return False
    return server.started
