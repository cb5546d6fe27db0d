"""Migrations: applied once, recorded, idempotent, safe when instances start together."""

from __future__ import annotations

import os
import sys
from datetime import date

import psycopg
import pytest
import trio

from monitor.domain.partitions import DayPartition
from monitor.storage import partitions as partition_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations, available_migrations


def recorded_versions(url: str) -> list[int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("select version from schema_migrations order by version")
        return [row[0] for row in rows]


def migrate_before(url: str, version: int) -> None:
    """The schema as it was before migration `version`, recorded as the runner records it."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "create table schema_migrations (version integer primary key, name text not null,"
            " applied_at timestamptz not null default now())"
        )
        for migration in available_migrations():
            if migration.version >= version:
                break
            connection.execute(migration.sql.encode())
            connection.execute(
                "insert into schema_migrations (version, name) values (%s, %s)",
                (migration.version, migration.name),
            )


def test_migrations_are_numbered_and_unique() -> None:
    versions = [migration.version for migration in available_migrations()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_applying_twice_changes_nothing(empty_database_url: str) -> None:
    first = apply_migrations(empty_database_url)
    assert [m.version for m in first] == [m.version for m in available_migrations()]
    assert apply_migrations(empty_database_url) == []
    assert recorded_versions(empty_database_url) == [m.version for m in first]


@pytest.mark.slow
async def test_two_processes_migrating_at_once_both_succeed(empty_database_url: str) -> None:
    environ = {**os.environ, "DATABASE_URL": empty_database_url}
    results: list[trio.CompletedProcess[bytes]] = []

    async def migrate() -> None:
        results.append(
            await trio.run_process(
                [sys.executable, "-m", "monitor", "migrate"],
                env=environ,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        )

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(migrate)
            nursery.start_soon(migrate)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    outputs = sorted(r.stdout.decode() for r in results)
    # One process applied everything, the other waited on the lock and found nothing to do.
    assert outputs[0].startswith("applied 0 migration(s)")
    assert outputs[1].startswith(f"applied {len(available_migrations())} migration(s)")
    assert recorded_versions(empty_database_url) == [m.version for m in available_migrations()]


async def test_two_services_starting_at_once_on_a_fresh_database(
    empty_database_url: str,
    start_service,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    fresh = settings.replace(database_url=empty_database_url)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(start_service, fresh)
        nursery.start_soon(start_service, fresh)
    assert recorded_versions(empty_database_url) == [m.version for m in available_migrations()]
    with psycopg.connect(empty_database_url) as connection:
        # Exactly one bootstrap admin key, although both found the table empty.
        assert connection.execute("select count(*) from api_keys").fetchone() == (1,)


def test_the_ingest_role_migration_keeps_existing_keys(empty_database_url: str) -> None:
    # The schema as it was before 0007, with a key of each role it allowed.
    migrate_before(empty_database_url, 7)
    with psycopg.connect(empty_database_url, autocommit=True) as connection:
        for role in ("read", "write", "admin"):
            connection.execute(
                "insert into api_keys (name, prefix, secret_sha256, role) values (%s, %s, %s, %s)",
                (f"old {role}", f"old{role}"[:8].ljust(8, "0"), bytes(32), role),
            )
        with pytest.raises(psycopg.errors.CheckViolation):
            connection.execute(
                "insert into api_keys (name, prefix, secret_sha256, role)"
                " values ('agent', 'agent000', %s, 'ingest')",
                (bytes(32),),
            )

    assert 7 in [m.version for m in apply_migrations(empty_database_url)]

    with psycopg.connect(empty_database_url, autocommit=True) as connection:
        kept = connection.execute("select name, role from api_keys order by id").fetchall()
        assert kept == [("old read", "read"), ("old write", "write"), ("old admin", "admin")]
        connection.execute(
            "insert into api_keys (name, prefix, secret_sha256, role)"
            " values ('agent', 'agent000', %s, 'ingest')",
            (bytes(32),),
        )
        for refused in ("root", "INGEST", ""):
            with pytest.raises(psycopg.errors.CheckViolation):
                connection.execute(
                    "insert into api_keys (name, prefix, secret_sha256, role)"
                    " values ('x', 'refused0', %s, %s)",
                    (bytes(32), refused),
                )


def source_index_columns(url: str, table: str) -> set[str]:
    """The column lists of `table`'s b-tree indexes that start with `source`."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "select pg_get_indexdef(indexrelid) from pg_index where indrelid = %s::regclass",
            (table,),
        ).fetchall()
    columns = {str(row[0]).split(" USING btree ", 1)[-1] for row in rows}
    return {listed for listed in columns if listed.startswith("(source")}


async def test_the_source_level_indexes_reach_old_and_new_partitions(
    empty_database_url: str,
) -> None:
    # A day partition made before 0013 (with an event in it), then 0013, then a new day.
    migrate_before(empty_database_url, 13)
    old_day, new_day = DayPartition(date(2026, 1, 1)), DayPartition(date(2026, 1, 2))
    async with open_gateway(
        empty_database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        await partition_store.create_partitions(gateway, "events", [old_day])
        with psycopg.connect(empty_database_url, autocommit=True) as connection:
            connection.execute(
                "insert into events (id, time, received_at, type, level, source)"
                " values (gen_random_uuid(), '2026-01-01T12:00Z', now(), 'job', 3, 'api-01')"
            )
        assert 13 in [m.version for m in apply_migrations(empty_database_url)]
        await partition_store.create_partitions(gateway, "events", [new_day])

    wanted = {'(source, level, "time" DESC)', '(source, "time" DESC, level)'}
    assert source_index_columns(empty_database_url, "events") == wanted
    for day in (old_day, new_day):
        assert source_index_columns(empty_database_url, day.name("events")) == wanted
