"""Migrations: applied once, in order, recorded; the same schema on both engines."""

from __future__ import annotations

import asyncio

from msa.backend.store import migrations, open_store
from msa.backend.store.sql import COUNTED_TABLES
from msa.cli import main


async def test_migrate_applies_every_migration_once(database_url):
    store = await open_store(database_url)
    try:
        versions = [migration.version for migration in migrations.load()]
        assert await store.migrate() == versions
        assert await store.migrate() == []
        assert set(await store.counts()) == set(COUNTED_TABLES)
    finally:
        await store.close()


async def test_concurrent_migrations_apply_each_version_once(database_url):
    stores = [await open_store(database_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(store.migrate() for store in stores))
        assert sorted(len(versions) for versions in applied) == [0, 0, len(migrations.load())]
    finally:
        for store in stores:
            await store.close()


def test_migrate_command_twice_is_a_no_op(database_url, capsys):
    assert main(["backend", "migrate", "--db", database_url]) == 0
    assert "applied migrations 0001" in capsys.readouterr().out
    assert main(["backend", "migrate", "--db", database_url]) == 0
    assert "schema is up to date" in capsys.readouterr().out


def test_migrations_are_numbered_and_every_placeholder_is_spelled():
    loaded = migrations.load()
    assert [m.version for m in loaded] == sorted(m.version for m in loaded)
    for dialect in migrations.DIALECT_TYPES:
        for migration in loaded:
            assert "{" not in migrations.render(migration.sql, dialect)


def test_unknown_database_url_is_a_usage_error(capsys):
    assert main(["backend", "migrate", "--db", "mysql://somewhere/db"]) == 2
    assert "use sqlite:///path/to/file.db" in capsys.readouterr().err
