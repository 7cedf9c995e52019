"""Every file holding a key, a token, a bond or a database is its owner's alone
(0600) as the real commands create it: the KEK, the button's device.json, the
backend's SQLite file and its -wal and -shm, and the demo's folder (the board's
identity.json and flash, the phone's bonds.json and outbox).

The commands run with umask 000: a file that is not made private on purpose
would show as 0666 here, whatever the umask of the machine running the tests."""

from __future__ import annotations

import json
import select
import signal
import stat
import subprocess
import sys
from pathlib import Path

from msa.backend.server import READY_PREFIX
from tests.backend.test_provisioning import CASE


def msa(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "msa.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        umask=0,
    )
    assert result.returncode == 0, result.stderr
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(*paths: Path) -> None:
    modes = {str(path): oct(mode(path)) for path in paths}
    assert modes == {str(path): "0o600" for path in paths}


def test_the_backend_commands_create_their_secret_files_0600(tmp_path: Path):
    kek, device_json, db = tmp_path / "kek", tmp_path / "device.json", tmp_path / "db" / "msa.db"
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(CASE))
    url = f"sqlite:///{db}"
    msa("backend", "kek-new", kek)
    msa("backend", "case-add", case_file, "--db", url)
    msa(
        "backend", "provision", "--case", CASE["reference"], "--device-id", "0badf00d",
        "--device-json", device_json, "--db", url, "--kek-file", kek,
    )  # fmt: skip
    assert_private(kek, device_json, db)

    # The -wal and -shm files live while the backend has the database open.
    server = subprocess.Popen(
        [sys.executable, "-m", "msa.cli", "backend", "serve", "--db", url, "--port", "0",
         "--kek-file", str(kek)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, umask=0,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 30)
        assert ready and server.stdout.readline().startswith(READY_PREFIX)
        assert_private(db, db.with_name("msa.db-wal"), db.with_name("msa.db-shm"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=15)


def test_the_demo_keeps_its_folder_and_every_secret_in_it_private(tmp_path: Path):
    demo = tmp_path / "demo"
    msa("demo", "--headless", "--presses", "1", "--json", "--dir", demo)
    assert oct(mode(demo)) == "0o700"
    board_data = [path for path in (demo / "board" / "flash" / "data").rglob("*") if path.is_file()]
    assert board_data, "the firmware wrote nothing to its flash"  # counter, bonds
    assert_private(
        demo / "kek",
        demo / "backend.db",
        demo / "board" / "identity.json",
        demo / "board" / "flash" / "device.json",
        demo / "phone" / "bonds.json",
        demo / "phone" / "outbox.db",
        *board_data,
    )
