"""Apply the versioned SQL migrations in `storage/migrations/`.

Safe when several instances start at once: the whole run holds a PostgreSQL
advisory lock, so the second instance waits, then finds everything applied.
Each migration runs in its own transaction together with its bookkeeping row,
so a failed migration leaves no trace and is retried at the next start.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from monitor.storage.gateway import connect

log = logging.getLogger(__name__)

# An arbitrary constant that identifies "monitor migrations" among advisory locks.
MIGRATION_LOCK_ID = 7_236_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("monitor.storage.migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return found


def apply_migrations(url: str) -> list[Migration]:
    """Apply every pending migration; return the ones this call applied. Blocking."""
    applied_now: list[Migration] = []
    with connect(url) as connection:
        connection.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            connection.execute(
                """
                create table if not exists schema_migrations (
                    version    integer primary key,
                    name       text not null,
                    applied_at timestamptz not null default now()
                )
                """
            )
            done = {row[0] for row in connection.execute("select version from schema_migrations")}
            for migration in available_migrations():
                if migration.version in done:
                    continue
                with connection.transaction():
                    connection.execute(migration.sql.encode())
                    connection.execute(
                        "insert into schema_migrations (version, name) values (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info(
                    "applied migration",
                    extra={"migration": f"{migration.version:04d}_{migration.name}"},
                )
                applied_now.append(migration)
        finally:
            connection.execute("select pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return applied_now
