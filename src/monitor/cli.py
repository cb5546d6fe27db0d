"""The `monitor` command: serve (the default), migrate, config, keys."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import trio

from monitor import __version__, logs, service
from monitor.config import SETTINGS, Settings, SettingsError, load_settings
from monitor.domain.keys import Role
from monitor.process_settings import tune_for_serving
from monitor.storage import keys as key_store
from monitor.storage.errors import DataDirBusy, StorageUnavailable
from monitor.storage.gateway import Gateway
from monitor.storage.migrate import apply_migrations

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    try:
        settings = load_settings(
            os.environ, {k: None if v is None else str(v) for k, v in overrides.items()}
        )
    except SettingsError as problem:
        click.echo(f"monitor: {problem}", err=True)
        sys.exit(2)
    logs.configure(settings.log_level_number)
    return settings


def _fail(message: str) -> None:
    one_line = " ".join(message.split())
    click.echo(f"monitor: {one_line}", err=True)
    sys.exit(1)


def _user_fixable(failure: BaseException) -> BaseException | None:
    """The DataDirBusy, StorageUnavailable or OSError inside `failure`, however grouped."""
    if isinstance(failure, DataDirBusy | StorageUnavailable | OSError):
        return failure
    if isinstance(failure, BaseExceptionGroup):
        for inner in failure.exceptions:
            found = _user_fixable(inner)
            if found is not None:
                return found
    return None


def _describe_os_error(problem: OSError, settings: Settings | None) -> str:
    what = problem.strerror or str(problem)
    if problem.filename:
        return f"{what}: {problem.filename}"
    if settings is not None and problem.errno is not None:
        return f"cannot listen on {settings.host}:{settings.port}: {what}"
    return what


def _run(main: Callable[[], Awaitable[T]], settings: Settings | None = None) -> T:
    """trio.run with the failures a user can fix turned into one clear line."""
    try:
        return trio.run(main)
    except BaseException as failure:
        problem = _user_fixable(failure)
        if problem is None:
            raise
        if isinstance(problem, DataDirBusy):
            _fail(str(problem))
        elif isinstance(problem, StorageUnavailable):
            _fail(f"database unavailable: {problem}")
        elif isinstance(problem, OSError):
            _fail(_describe_os_error(problem, settings))
        raise


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Data directory (env MONITOR_DATA_DIR; default ./monitor-data).",
)


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="monitor")
@click.pass_context
def main(context: click.Context) -> None:
    """monitor: events, metrics, alerts and a live dashboard in one process.

    Without a command, runs `monitor serve`.
    """
    if context.invoked_subcommand is None:
        context.invoke(serve)


@main.command()
@click.option("--host", default=None, help="Address to listen on (env MONITOR_HOST).")
@click.option("--port", type=int, default=None, help="TCP port (env MONITOR_PORT or PORT).")
@data_dir_option
def serve(host: str | None, port: int | None, data_dir: str | None) -> None:
    """Run the service until SIGINT or SIGTERM."""
    settings = _settings(host=host, port=port, data_dir=data_dir)
    tune_for_serving()
    _run(lambda: service.run(settings), settings)


async def _with_storage(settings: Settings, work: Callable[[Gateway], Awaitable[T]]) -> T:
    async with (
        service.open_database(settings, exclusive=False) as url,
        service.open_storage(settings, url) as gateway,
    ):
        await trio.to_thread.run_sync(apply_migrations, url)
        return await work(gateway)


@main.command()
@data_dir_option
def migrate(data_dir: str | None) -> None:
    """Apply pending database migrations and exit."""
    settings = _settings(data_dir=data_dir)

    async def work() -> list[str]:
        async with service.open_database(settings, exclusive=False) as url:
            applied = await trio.to_thread.run_sync(apply_migrations, url)
        return [f"{m.version:04d}_{m.name}" for m in applied]

    applied = _run(work)
    click.echo(
        f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )


@main.command("config")
@data_dir_option
def show_config(data_dir: str | None) -> None:
    """Print the effective settings, secrets redacted."""
    settings = _settings(data_dir=data_dir)
    shown = settings.redacted()
    width = max(len(spec.env[0]) for spec in SETTINGS)
    for spec in SETTINGS:
        click.echo(f"{spec.env[0]:<{width}}  {shown[spec.field]}")


@main.group()
def keys() -> None:
    """Manage API keys."""


def _parse_expiry(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        expires = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {text!r}") from None
    if expires.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2027-01-01T00:00:00Z")
    if expires <= datetime.now(UTC):
        raise click.BadParameter("must be in the future")
    if expires.astimezone(UTC).year >= 9000:
        raise click.BadParameter("must be before the year 9000")
    return expires


@keys.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--role", required=True, type=click.Choice(["read", "write", "admin"]), help="Permissions."
)
@click.option(
    "--rate-limit", type=click.IntRange(0), default=None, help="Requests per hour (0 = unlimited)."
)
@click.option("--expires", default=None, help="Expiry time, ISO 8601 with a time zone.")
@data_dir_option
def keys_create(
    name: str, role: str, rate_limit: int | None, expires: str | None, data_dir: str | None
) -> None:
    """Create a key; the key itself is printed alone on the last line."""
    expires_at = _parse_expiry(expires)
    if not name.strip() or len(name) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise click.BadParameter("1 to 200 printable characters", param_hint="--name")
    settings = _settings(data_dir=data_dir)

    async def create(gateway: Gateway) -> tuple[key_store.KeyRecord, str]:
        return await key_store.create_key(
            gateway,
            name=name,
            role=Role.parse(role),
            rate_limit=rate_limit,
            expires_at=expires_at,
            actor="cli",
        )

    record, token = _run(lambda: _with_storage(settings, create))
    click.echo(
        f"created key {record.id} ({record.name}, role {record.role}); it is shown only once:"
    )
    click.echo(token)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
@data_dir_option
def keys_list(as_json: bool, data_dir: str | None) -> None:
    """List keys (never their secrets)."""
    settings = _settings(data_dir=data_dir)
    records = _run(lambda: _with_storage(settings, key_store.list_keys))
    now = datetime.now(UTC)
    if as_json:
        for record in records:
            click.echo(json.dumps({**record.__dict__, "status": record.status(now)}, default=_iso))
        return
    rows = [("ID", "NAME", "PREFIX", "ROLE", "STATUS", "RATE/H", "EXPIRES", "LAST USED")]
    for record in records:
        rows.append(
            (
                str(record.id),
                record.name,
                record.prefix,
                record.role,
                record.status(now),
                "default" if record.rate_limit is None else str(record.rate_limit),
                _iso(record.expires_at) if record.expires_at else "-",
                _iso(record.last_used_at) if record.last_used_at else "never",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@keys.command("revoke")
@click.argument("key_id", type=click.IntRange(1, 2**63 - 1))
@data_dir_option
def keys_revoke(key_id: int, data_dir: str | None) -> None:
    """Revoke a key by id (it stays listed as revoked)."""
    settings = _settings(data_dir=data_dir)

    async def revoke(gateway: Gateway) -> key_store.KeyRecord | None:
        return await key_store.revoke_key(gateway, key_id, actor="cli")

    record = _run(lambda: _with_storage(settings, revoke))
    if record is None:
        _fail(f"no API key with id {key_id}")
        return
    click.echo(f"revoked key {record.id} ({record.name}, prefix {record.prefix})")


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)
