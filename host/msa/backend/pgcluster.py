"""A throwaway PostgreSQL cluster in a temporary folder, for tests and benchmarks.

    with pgcluster.cluster() as pg:
        url = pg.create_database("ingest")   # postgresql://msa@127.0.0.1:PORT/ingest

Debian keeps `initdb` and `pg_ctl` in /usr/lib/postgresql/<version>/bin, off PATH,
and PostgreSQL refuses to run as root: as root the cluster runs as the `postgres`
user (`runuser`), in a folder it owns. Authentication is `trust` on 127.0.0.1 and
the cluster's own socket folder, for the superuser `msa`.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from msa import children
from msa.errors import NotAvailable

USER = "msa"
INSTALL_HINT = "PostgreSQL is not installed: apt-get install postgresql"
_TIMEOUT_S = 60


def bin_dir() -> Path:
    """The folder holding `initdb` and `pg_ctl`; raises NotAvailable without PostgreSQL."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise NotAvailable(INSTALL_HINT)


class PgCluster:
    """A cluster in `data_dir`: its URLs, and `stop()`/`start()` to take it away and back."""

    def __init__(self, data_dir: Path, binaries: Path, settings: Mapping[str, str]) -> None:
        self.data_dir = data_dir
        self.bin_dir = binaries
        self.port = 0  # set by start()
        self._settings = dict(settings)
        self._as_postgres = _as_postgres_prefix()

    @property
    def url(self) -> str:
        """The URL of the cluster's `postgres` database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name)
        return self.database_url(name)

    def init(self) -> None:
        self._own_data_dir()
        self._pg(
            "initdb",
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            USER,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def copy_of(self, primary: PgCluster) -> None:
        """Make this (empty) cluster a standby of `primary`: its base backup, with
        what streaming from it needs (`-R`: primary_conninfo, standby.signal)."""
        self._own_data_dir()
        address = ("-h", "127.0.0.1", "-p", str(primary.port), "-U", USER)
        self._pg("pg_basebackup", *address, "-D", str(self.data_dir), "-R", "-X", "stream",
                 "-c", "fast", "--no-sync")  # fmt: skip
        (self.data_dir / "server.log").unlink(missing_ok=True)  # the primary's, copied

    def promote(self) -> None:
        """End a standby's recovery: it takes writes from now on."""
        self._pg("pg_ctl", "-D", str(self.data_dir), "-w", "promote")

    def _own_data_dir(self) -> None:
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)

    def start(self) -> None:
        """Start the server: on a free port the first time, on the same port after."""
        # A free port can be taken between our probe and the server's bind: try again.
        for _attempt in range(3):
            port = self.port or _free_port()
            options = [f"-k {self.data_dir}", f"-p {port}", "-c listen_addresses=127.0.0.1"]
            options += [f"-c {name}={value}" for name, value in self._settings.items()]
            log_file = self.data_dir / "server.log"
            result = self._pg(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(log_file),
                "-o",
                " ".join(options),
                "-w",
                "start",
                check=False,
            )
            if result.returncode == 0:
                self.port = port
                return
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            if self.port or ("could not bind" not in log and "already in use" not in log):
                raise NotAvailable(
                    f"PostgreSQL did not start: {result.stderr.strip()}\n{log[-2000:]}"
                )
        raise NotAvailable("PostgreSQL did not start: no free port found in three attempts")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate` is like a crash); `start()` brings it back."""
        self._pg("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop", check=False)

    def cleanup_command(self) -> list[str]:
        """A command that stops the server at once and deletes its folder."""
        stop = [*self._as_postgres, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir)]
        stop += ["-m", "immediate", "-w", "stop"]
        script = f"{shlex.join(stop)} >/dev/null 2>&1; rm -rf {shlex.quote(str(self.data_dir))}"
        return ["sh", "-c", script]

    def _pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [*self._as_postgres, str(self.bin_dir / program), *args]
        return _run(command, cwd=self.data_dir, check=check)


@contextmanager
def cluster(*, settings: Mapping[str, str] | None = None) -> Iterator[PgCluster]:
    """Create and start a cluster; stop and delete it when the block ends.

    `settings` are extra server settings (`-c name=value`), e.g. {"fsync": "off"}.
    Raises NotAvailable when PostgreSQL is not installed.
    """
    pg = PgCluster(Path(tempfile.mkdtemp(prefix="msa-pg-")), bin_dir(), settings or {})
    with _kept_until_the_end(pg):
        pg.init()
        pg.start()
        yield pg


@contextmanager
def standby(primary: PgCluster) -> Iterator[PgCluster]:
    """A hot standby of `primary`: a base backup of it, started on a port of its own,
    streaming from it (read-only until `promote()`); stopped and deleted at the end."""
    pg = PgCluster(Path(tempfile.mkdtemp(prefix="msa-pg-standby-")), primary.bin_dir, {})
    with _kept_until_the_end(pg):
        pg.copy_of(primary)
        pg.start()
        yield pg


@contextmanager
def _kept_until_the_end(pg: PgCluster) -> Iterator[None]:
    # pg_ctl daemonises the server: if this process is killed, the watcher
    # stops it and deletes its folder.
    watcher = children.guard(pg.cleanup_command())
    try:
        try:
            yield
        finally:
            pg.stop("immediate")
    finally:
        shutil.rmtree(pg.data_dir, ignore_errors=True)
        watcher.kill()
        watcher.wait()


def _as_postgres_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise NotAvailable(
            "PostgreSQL refuses to run as root and there is no 'postgres' user: "
            "apt-get install postgresql creates it"
        ) from None
    return ["runuser", "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(
    command: list[str], *, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
    )
    if check and result.returncode != 0:
        program = next(Path(part).name for part in command if "/" in part)  # past runuser
        output = result.stderr.strip() or result.stdout.strip()
        raise NotAvailable(f"{program} failed (exit {result.returncode}): {output}")
    return result
