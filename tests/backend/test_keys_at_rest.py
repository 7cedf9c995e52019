"""Device keys at rest: wrapped under the operator's KEK in both databases, never in
plain text (not in a column, not in the files); a wrong or missing KEK is one
clear line, not frames failing their MACs; an older database's plaintext keys
are wrapped by the migration, or the migration is refused and nothing changes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from msa.backend import pgcluster
from msa.backend.auth import hash_token
from msa.backend.keys import Kek, KekError, kek_at
from msa.backend.seed import DEMO_CASE
from msa.backend.store import Store, StoreUnavailable, migrations, open_store, sqlite_path
from msa.cli import main
from tests.backend.test_provisioning import CASE
from tests.backend.util import DEVICE_ID, KEY, PHONE_TOKEN

OTHER_KEK = Kek(bytes(range(100, 132)))


def traces(key: bytes) -> list[bytes]:
    """The ways a key could show in a database: raw, and as hex either case."""
    return [key, key.hex().encode(), key.hex().upper().encode()]


async def every_value(store: Store) -> list[object]:
    """Every value of every row of every table of the store's database."""
    tables_sql = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if store.dialect == "sqlite"
        else "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
    )
    values: list[object] = []
    async with store._connection() as conn:  # noqa: SLF001 (a test reads the tables)
        for table in await conn.fetch(tables_sql):
            for row in await conn.fetch(f'SELECT * FROM "{table["name"]}"'):
                values.extend(row.values())
    return values


def assert_nowhere_in_values(key: bytes, values: list[object]) -> None:
    for value in values:
        if isinstance(value, bytes | bytearray | memoryview):
            content = bytes(value)
        else:
            content = str(value).encode("utf-8", "surrogateescape")
        assert not any(trace in content for trace in traces(key)), f"the key is in {value!r}"


async def database_files(database_url: str, pg: pgcluster.PgCluster | None) -> list[Path]:
    """The files the database lives in: the SQLite file and its -wal and -shm, or
    (after a checkpoint) the PostgreSQL database's own folder, the cluster's shared
    catalogue and its WAL."""
    path = sqlite_path(database_url)
    if path is not None:
        return [p for p in Path(path).parent.glob(Path(path).name + "*") if p.is_file()]
    assert pg is not None
    oid = await _checkpoint(database_url)
    folders = [pg.data_dir / "base" / str(oid), pg.data_dir / "global", pg.data_dir / "pg_wal"]
    return [p for folder in folders for p in folder.rglob("*") if p.is_file()]


@contextlib.contextmanager
def own_database(database_url: str) -> Iterator[tuple[str, pgcluster.PgCluster | None]]:
    """The database to search the files of: SQLite's is the test's own file; on
    PostgreSQL, a cluster of the test's own, so that its WAL holds this test's writes
    alone and its checkpoint waits for nobody else's (on the session's cluster, busy
    with the other worker's floods, the search took 30 to 40 s)."""
    if sqlite_path(database_url) is not None:
        yield database_url, None
        return
    with pgcluster.cluster() as pg:
        yield pg.create_database("keys_at_rest"), pg


async def _checkpoint(database_url: str) -> int:
    """Have the server write every changed page to the table files now; the
    database's oid (its folder's name)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CHECKPOINT")
        return int(
            await conn.fetchval("SELECT oid FROM pg_database WHERE datname = current_database()")
        )
    finally:
        await conn.close()


def assert_nowhere_in_files(key: bytes, files: list[Path]) -> None:
    assert files
    for file in files:
        try:
            content = file.read_bytes()
        except FileNotFoundError:  # the server removed it meanwhile (pg_internal.init)
            continue
        assert not any(trace in content for trace in traces(key)), f"the key is in {file}"


def test_a_provisioned_key_is_nowhere_in_the_database_in_plain_text(
    database_url: str, kek: Kek, kek_file: Path, tmp_path: Path, capsys
):
    with own_database(database_url) as (url, pg):
        case_file = tmp_path / "case.json"
        case_file.write_text(json.dumps(CASE))
        assert main(["backend", "case-add", str(case_file), "--db", url]) == 0
        provision = [
            "backend", "provision", "--case", CASE["reference"], "--device-id", "0badf00d",
            "--db", url, "--kek-file", str(kek_file), "--json",
        ]  # fmt: skip
        capsys.readouterr()
        assert main(provision) == 0
        issued = json.loads(capsys.readouterr().out)
        key = bytes.fromhex(issued["key"])

        async def read() -> tuple[list[object], bytes | None]:
            store = await open_store(url, kek)
            try:
                context = await store.ingest_context(hash_token(issued["phone_token"]), 0x0BADF00D)
                assert context is not None and context.device is not None
                return await every_value(store), context.device.mac_key
            finally:
                await store.close()

        values, unwrapped = asyncio.run(read())
        assert unwrapped == key  # the backend still verifies with it
        assert_nowhere_in_values(key, values)
        assert_nowhere_in_files(key, asyncio.run(database_files(url, pg)))


async def test_wrapped_keys_round_trip_and_are_bound_to_their_device(store: Store, kek: Kek):
    person_id = (await store.create_case(DEMO_CASE)).person_ids[0]
    keys = {0x01000000 + n: bytes([n]) * 32 for n in range(3)}
    for device_id, key in keys.items():
        await store.register_device(device_id, key, person_id)
        await store.link_phone(hash_token(f"phone-{device_id}"), person_id, device_id)
    assert await store.register_device(0x01000001, b"\x77" * 32, person_id) == 1  # re-provisioned
    for device_id, key in keys.items():  # each token reaches its own epoch's key
        context = await store.ingest_context(hash_token(f"phone-{device_id}"), device_id)
        assert context is not None and context.device is not None
        assert context.device.mac_key == key
    context = await store.ingest_context(hash_token("phone-16777217"), 0x01000001, epoch=1)
    assert context is not None and context.device is not None
    assert context.device.mac_key == b"\x77" * 32
    async with store._connection() as conn:  # noqa: SLF001 (a test reads the table)
        rows = await conn.fetch("SELECT mac_key_wrapped, kek_id FROM device_keys")
        assert len(rows) == 4
        assert {(len(bytes(r["mac_key_wrapped"])), r["kek_id"]) for r in rows} == {(60, kek.id)}
        # A wrapped key copied onto another device's row does not open there.
        await conn.execute(
            "UPDATE device_keys SET mac_key_wrapped = (SELECT mac_key_wrapped FROM device_keys"
            " WHERE device_id = $1 AND epoch = 0) WHERE device_id = $2",
            0x01000000,
            0x01000002,
        )
    with pytest.raises(StoreUnavailable, match="altered or copied from another device"):
        await store.ingest_context(hash_token("phone-16777218"), 0x01000002)


async def test_a_wrong_kek_is_refused_in_one_line_not_with_failing_macs(
    database_url: str, kek: Kek
):
    seeding = await open_store(database_url, kek)
    try:
        await seeding.migrate()
        person_id = (await seeding.create_case(DEMO_CASE)).person_ids[0]
        await seeding.register_device(DEVICE_ID, KEY, person_id)
        await seeding.link_phone(hash_token(PHONE_TOKEN), person_id, DEVICE_ID)
    finally:
        await seeding.close()
    wrong = await open_store(database_url, OTHER_KEK)
    try:
        with pytest.raises(KekError, match=f"wrapped under KEK {kek.id} .1 devices., not under"):
            await wrong.migrate()
        # Even past that check (a backend started before another wrote the row), a
        # frame is answered 503 with the reason, and the phone keeps it.
        with pytest.raises(StoreUnavailable, match=f"wrapped under KEK {kek.id}"):
            await wrong.ingest_context(hash_token(PHONE_TOKEN), DEVICE_ID)
    finally:
        await wrong.close()


def msa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `msa ARGS` with `env`, and no MSA_KEK but one `env` gives."""
    environment = {k: v for k, v in os.environ.items() if k != "MSA_KEK"}
    return subprocess.run(
        [sys.executable, "-m", "msa.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environment, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["backend", "serve"], {}, "no key-encryption key (KEK) for the device keys: give"),
        (["backend", "seed-demo"], {}, "--kek-file PATH or set MSA_KEK"),
        (["backend", "provision", "--case", "X", "--device-id", "01"], {}, "msa backend kek-new"),
        (["backend", "serve"], {"MSA_KEK": "c0ffee"}, "$MSA_KEK has 6 characters"),
        (["backend", "serve"], {"MSA_KEK": "secret-" * 9 + "x"}, "$MSA_KEK is not hex"),
        (["backend", "serve", "--kek-file", "/nonexistent/kek"], {}, "cannot read the KEK file"),
    ],
)
def test_without_a_good_kek_the_commands_say_what_to_do(tmp_path: Path, args, env, message):
    result = msa(*args, "--db", f"sqlite:///{tmp_path}/msa.db", env=env)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "secret-" not in result.stderr  # a malformed KEK is not echoed
    assert not (tmp_path / "msa.db").exists()  # refused before the database was touched


def test_serve_with_another_kek_than_the_databases_refuses_to_start(tmp_path: Path, kek_file):
    db = ("--db", f"sqlite:///{tmp_path}/msa.db")
    assert msa("backend", "seed-demo", *db, "--kek-file", str(kek_file)).returncode == 0
    other = tmp_path / "other.kek"
    kek_at(other)
    result = msa("backend", "serve", *db, "--kek-file", str(other), "--port", "0")
    assert result.returncode == 2, result.stderr
    assert "give the KEK this database was set up with" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def older_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A database migrated up to 0004, with DEVICE_ID's KEY in plain text, as it was."""
    store = await open_store(database_url)
    older = [m for m in migrations.load() if m.version < "0005"]
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "load", lambda: older)
        await store.migrate()
    person_id = (await store.create_case(DEMO_CASE)).person_ids[0]
    async with store._transaction() as conn:  # noqa: SLF001 (the schema of before 0005)
        await conn.execute(
            "INSERT INTO devices (device_id, mac_key, person_id, status, created_at)"
            " VALUES ($1, $2, $3, 'active', 0)",
            DEVICE_ID,
            KEY,
            person_id,
        )
    async with store._transaction() as conn:  # noqa: SLF001 (the schema of before 0007)
        await conn.execute(
            "INSERT INTO phones (token_sha256, person_id, device_id, created_at)"
            " VALUES ($1, $2, $3, 0)",
            hash_token(PHONE_TOKEN),
            person_id,
            DEVICE_ID,
        )
    return store


async def test_an_older_databases_plaintext_keys_are_wrapped_by_the_migration(
    database_url: str, kek: Kek, monkeypatch: pytest.MonkeyPatch, request
):
    store = await older_database(database_url, monkeypatch)
    try:
        with pytest.raises(KekError, match="holds 1 device keys in plain text .* --kek-file"):
            await store.migrate()  # without a KEK: refused, rolled back
        async with store._connection() as conn:  # noqa: SLF001
            assert (await conn.fetch("SELECT mac_key FROM devices"))[0]["mac_key"] == KEY
    finally:
        await store.close()

    store = await open_store(database_url, kek)
    try:
        applied = await store.migrate()
        assert applied[0] == "0005" and applied == sorted(applied)
        context = await store.ingest_context(hash_token(PHONE_TOKEN), DEVICE_ID)
        assert context is not None and context.device is not None
        assert context.device.mac_key == KEY
        assert_nowhere_in_values(KEY, await every_value(store))
    finally:
        await store.close()
    pg = None if sqlite_path(database_url) else request.getfixturevalue("pg_cluster")
    files = await database_files(database_url, pg)
    if sqlite_path(database_url) is None:
        # The server's WAL keeps the INSERT of before until it recycles the segment
        # (docs/operations.md); the tables' own files are rewritten.
        files = [file for file in files if "base" in file.parts]
    assert_nowhere_in_files(KEY, files)


def test_kek_new_makes_a_kek_the_environment_and_the_file_give_alike(tmp_path: Path):
    path = tmp_path / "kek"
    made = json.loads(msa("backend", "kek-new", str(path), "--json").stdout)
    assert made == {"kek_file": str(path), "kek_id": kek_at(path).id}
    again = msa("backend", "kek-new", str(path))
    assert again.returncode == 2 and "never overwritten" in again.stderr
    assert kek_at(path).id == made["kek_id"]  # the file is as it was

    db = ("--db", f"sqlite:///{tmp_path}/msa.db")
    seeded = msa("backend", "seed-demo", *db, env={"MSA_KEK": path.read_text()})
    assert seeded.returncode == 0, seeded.stderr
    # The database's keys are under that KEK: given as a file, it is accepted.
    assert msa("backend", "migrate", *db, "--kek-file", str(path)).returncode == 0
