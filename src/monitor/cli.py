"""The `monitor` command: serve (the default), migrate, config, keys, tail.

Only click and the settings are imported up front: `--help` and `--version`
answer at once, and the service's own imports (Quart, Hypercorn, psycopg,
coredis, trio: about a second) are paid only by the commands that use them.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from monitor import __version__, logs
from monitor.config import SETTINGS, Settings, SettingsError, load_settings
from monitor.domain.keys import ROLE_LABELS
from monitor.domain.live_filters import CHANNELS
from monitor.secret_keys import SecretKeyProblem
from monitor.storage.connect_errors import DatabaseRefused
from monitor.storage.errors import DataDirBusy, StorageUnavailable

if TYPE_CHECKING:
    from monitor.domain.audit import Attribution
    from monitor.storage.gateway import Gateway
    from monitor.storage.keys import KeyRecord

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
    """The failure a user can fix inside `failure`, however grouped."""
    if isinstance(
        failure, DataDirBusy | DatabaseRefused | StorageUnavailable | SecretKeyProblem | OSError
    ):
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
    import trio

    try:
        return trio.run(main)
    except BaseException as failure:
        problem = _user_fixable(failure)
        if problem is None:
            raise
        if isinstance(problem, DataDirBusy | SecretKeyProblem):
            _fail(str(problem))
        elif isinstance(problem, DatabaseRefused):
            _fail(f"cannot connect to the database: {problem}")
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


# click.ParamType is generic only from click 8.2 on; pyproject allows 8.1.
class _ExpiryTime(click.ParamType):  # type: ignore[type-arg]
    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            expires = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not an ISO 8601 time (e.g. 2027-01-31T00:00:00Z)", param, ctx)
        if expires.tzinfo is None:
            self.fail(
                f"{text!r} has no time zone; add one, e.g. 2027-01-31T00:00:00Z or +02:00",
                param,
                ctx,
            )
        if expires <= datetime.now(UTC):
            self.fail(f"{text!r} is not in the future", param, ctx)
        if expires.astimezone(UTC).year >= 9000:
            self.fail(f"{text!r} is not before the year 9000", param, ctx)
        return expires


class _WholeNumber(click.ParamType):  # type: ignore[type-arg]
    """An integer in [low, high]; the message says what the number is for."""

    name = "integer"

    def __init__(self, low: int, high: int, what: str) -> None:
        self.low, self.high, self.what = low, high, what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            number = value
        else:
            text = str(value).strip()
            if not re.fullmatch(r"[+-]?[0-9]+", text):
                self.fail(f"{str(value)!r} is not {self.what}", param, ctx)
            number = int(text)
        if not self.low <= number <= self.high:
            self.fail(f"{number} is not {self.what}", param, ctx)
        return number


class _KeyName(click.ParamType):  # type: ignore[type-arg]
    name = "text"
    # Printable, and not only spaces: the rule the API applies to names.
    _PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        if not 1 <= len(text) <= 200 or not self._PRINTABLE.fullmatch(text):
            self.fail(
                f"{text!r} is not a key name (1 to 200 printable characters, not only spaces)",
                param,
                ctx,
            )
        return text


RATE_LIMIT = _WholeNumber(
    0, 1_000_000_000, "a number of requests per hour (0 to 1000000000; 0 = unlimited)"
)
KEY_ID = _WholeNumber(1, 2**63 - 1, "a key id (a whole number from 1; see `monitor keys list`)")


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="monitor")
@click.pass_context
def main(context: click.Context) -> None:
    """monitor: events and metrics over HTTP, streamed live over websockets.

    Without a command, runs `monitor serve`.
    """
    if context.invoked_subcommand is None:
        context.invoke(serve)


@main.command()
@click.option("--host", default=None, help="Address to listen on (env MONITOR_HOST).")
@click.option(
    "--port",
    type=_WholeNumber(0, 65535, "a TCP port (0 to 65535; 0 picks a free one)"),
    default=None,
    help="TCP port (env MONITOR_PORT or PORT).",
)
@data_dir_option
def serve(host: str | None, port: int | None, data_dir: str | None) -> None:
    """Run the service until SIGINT or SIGTERM."""
    settings = _settings(host=host, port=port, data_dir=data_dir)
    from monitor import service
    from monitor.process_settings import tune_for_serving

    tune_for_serving()
    _run(lambda: service.run(settings), settings)


def _cli_attribution() -> Attribution:
    """The audit log's actor for changes made here: `cli`, with the OS user when known."""
    import getpass

    from monitor.domain.audit import Actor, Attribution

    try:
        user: str | None = getpass.getuser()
    except (OSError, KeyError):  # no login name and no password-database entry
        user = None
    return Attribution(Actor.cli(user))


def _require_database(settings: Settings) -> None:
    """Refuse to run key commands against a database that does not exist yet.

    Creating one here would make an embedded database holding only, say, a
    write key, and hide the first admin key `serve` prints on a fresh start.
    """
    from monitor.storage.embedded import cluster_exists

    if settings.database_url is None and not cluster_exists(settings.data_dir):
        _fail(
            f"no database in {settings.data_dir}; start `monitor serve` once "
            "or set MONITOR_DATABASE_URL"
        )


async def _with_storage(settings: Settings, work: Callable[[Gateway], Awaitable[T]]) -> T:
    import trio

    from monitor import service
    from monitor.storage.migrate import apply_migrations

    async with (
        service.open_database(settings, exclusive=False) as url,
        service.open_storage(settings, url) as gateway,
    ):
        await trio.to_thread.run_sync(apply_migrations, url)
        return await work(gateway)


@main.command()
@data_dir_option
def migrate(data_dir: str | None) -> None:
    """Apply pending database migrations and exit.

    Without MONITOR_DATABASE_URL, creates the embedded database in the data
    directory if there is none: migrate is an explicit set-up step.
    """
    settings = _settings(data_dir=data_dir)
    import trio

    from monitor import service
    from monitor.storage.embedded import cluster_exists
    from monitor.storage.migrate import apply_migrations

    creates = settings.database_url is None and not cluster_exists(settings.data_dir)

    async def work() -> list[str]:
        async with service.open_database(settings, exclusive=False) as url:
            applied = await trio.to_thread.run_sync(apply_migrations, url)
        return [f"{m.version:04d}_{m.name}" for m in applied]

    applied = _run(work)
    if creates:
        click.echo(f"created the embedded database in {settings.data_dir / 'postgres'}")
    click.echo(
        f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )


@main.command("config")
@data_dir_option
def show_config(data_dir: str | None) -> None:
    """Print the effective settings, secrets hidden (URLs keep all but the password)."""
    settings = _settings(data_dir=data_dir)
    shown = settings.redacted()
    width = max(len(spec.env[0]) for spec in SETTINGS)
    for spec in SETTINGS:
        click.echo(f"{spec.env[0]:<{width}}  {shown[spec.field]}")


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--name", required=True, type=_KeyName(), help="What the key is for.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLE_LABELS),
    help="What the key may do: ingest (agents that send data), read, write or admin.",
)
@click.option(
    "--rate-limit", type=RATE_LIMIT, default=None, help="Requests per hour (0 = unlimited)."
)
@click.option(
    "--expires",
    "expires_at",
    type=_ExpiryTime(),
    default=None,
    help="Expiry time, ISO 8601 with a time zone (e.g. 2027-01-31T00:00:00Z).",
)
@data_dir_option
def keys_create(
    name: str, role: str, rate_limit: int | None, expires_at: datetime | None, data_dir: str | None
) -> None:
    """Create a key; the key itself is printed alone on the last line."""
    settings = _settings(data_dir=data_dir)
    _require_database(settings)
    from monitor.domain.keys import Role
    from monitor.storage import keys as key_store

    async def create(gateway: Gateway) -> tuple[KeyRecord, str]:
        return await key_store.create_key(
            gateway,
            name=name,
            role=Role.parse(role),
            rate_limit=rate_limit,
            expires_at=expires_at,
            by=_cli_attribution(),
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
    _require_database(settings)
    from monitor.storage import keys as key_store

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
@click.argument("key_id", type=KEY_ID)
@data_dir_option
def keys_revoke(key_id: int, data_dir: str | None) -> None:
    """Revoke a key by id (it stays listed as revoked)."""
    settings = _settings(data_dir=data_dir)
    _require_database(settings)
    from monitor.storage import keys as key_store

    async def revoke(gateway: Gateway) -> KeyRecord | None:
        return await key_store.revoke_key(gateway, key_id, by=_cli_attribution())

    record = _run(lambda: _with_storage(settings, revoke))
    if record is None:
        _fail(f"no API key with id {key_id}")
        return
    click.echo(f"revoked key {record.id} ({record.name}, prefix {record.prefix})")


def _default_url(settings: Settings) -> str:
    host = settings.host
    with contextlib.suppress(ValueError):  # a host name stays as it is
        address = ipaddress.ip_address(host)
        if address.is_unspecified:  # listening everywhere: this machine answers too
            host = "::1" if address.version == 6 else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


class _JsonObject(click.ParamType):  # type: ignore[type-arg]
    name = "json"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except ValueError:
            self.fail(f'{value!r} is not JSON, e.g. \'{{"min_level": "error"}}\'', param, ctx)
        if not isinstance(parsed, dict):
            self.fail(f"{value!r} is not a JSON object", param, ctx)
        return parsed


@main.command()
@click.option(
    "--url",
    default=None,
    help="The service, http(s):// or ws(s):// (default: MONITOR_HOST and MONITOR_PORT).",
)
@click.option(
    "--key",
    envvar="MONITOR_API_KEY",
    show_envvar=True,
    default=None,
    help="An API key that may read (read, write or admin).",
)
@click.option(
    "--channel",
    type=click.Choice(CHANNELS),
    default=CHANNELS[0],
    show_default=True,
    help="What to follow.",
)
@click.option(
    "--filter",
    "stream_filter",
    type=_JsonObject(),
    default=None,
    help='The channel\'s filter as JSON, e.g. \'{"min_level": "error"}\'.',
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(0.1, 600),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the websocket to open.",
)
def tail(
    url: str | None,
    key: str | None,
    channel: str,
    stream_filter: dict[str, Any] | None,
    connect_timeout: float,
) -> None:
    """Follow a live channel: one JSON line per item on stdout, until Ctrl-C."""
    if not key:
        raise click.UsageError("an API key is needed: --key or MONITOR_API_KEY")
    import trio

    from monitor import tail as live_tail

    try:
        ws_url = live_tail.websocket_url(url or _default_url(_settings()))
    except ValueError as problem:
        raise click.BadParameter(str(problem), param_hint="--url") from None
    subscription = live_tail.Subscription(channel, stream_filter)
    try:
        trio.run(
            functools.partial(
                live_tail.tail,
                ws_url,
                key,
                subscription,
                connect_timeout=connect_timeout,
                out=sys.stdout,
                note=sys.stderr,
            )
        )
    except live_tail.TailFailed as failed:
        _fail(str(failed))
    except BrokenPipeError:
        # The reader of stdout left (`| head`); say nothing, and keep Python's
        # own flush at exit from complaining about the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)
