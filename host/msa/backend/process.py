"""`msa backend serve` as a child process: the one way the demo, the tests and
the benchmarks start a backend (a node, when several share one PostgreSQL).

The child dies with its parent (msa.children), SIGKILL included; it is ready
once it printed `READY_PREFIX` and its URL.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from msa import children
from msa.backend.server import READY_PREFIX
from msa.errors import MsaError
from msa.waiting import within

STARTUP_TIMEOUT_S = 30.0


def serve_command(
    database_url: str, kek_file: Path, port: int = 0, options: Sequence[str] = ()
) -> list[str]:
    """The command of a backend on `database_url` at `port` (0: a free one)."""
    serve = ("backend", "serve", "--db", database_url, "--port", str(port))
    return msa_command(*serve, "--kek-file", str(kek_file), *options)


class BackendProcess:
    """`msa backend serve` as a child process on a free port, its device keys
    wrapped under the KEK in `kek_file`."""

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        kek_file: Path,
        port: int = 0,
        options: Sequence[str] = (),
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.kek_file = kek_file
        self.port = port
        self.options = tuple(options)
        self.url = ""
        self.process: asyncio.subprocess.Process | None = None
        self._log: BinaryIO | None = None

    async def start(self) -> str:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = await asyncio.create_subprocess_exec(
            *serve_command(self.database_url, self.kek_file, self.port, self.options),
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            preexec_fn=children.preexec(),
        )
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT_S):
                while line := await self.process.stdout.readline():
                    if line.startswith(READY_PREFIX.encode()):
                        self.url = line.decode().removeprefix(READY_PREFIX).strip()
                        break
        except TimeoutError:
            pass
        if not self.url:
            await self.stop()
            raise MsaError(f"the backend did not start; see {self.log_path}")
        asyncio.get_running_loop().create_task(self._drain(self.process.stdout))
        return self.url

    @staticmethod
    async def _drain(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def kill(self) -> None:
        """SIGKILL: the crash the backend must survive."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        await self._end(signal.SIGTERM)

    async def _end(self, sig: int) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)
            try:
                await within(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def msa_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "msa.cli", *args]
