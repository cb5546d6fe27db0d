"""Settings: one frozen object built from the environment and command-line overrides.

Each setting is declared once, as a field of `Settings`: its type, and through
`setting(...)` its environment names (the first canonical, later ones accepted
aliases), default, parser and help. `SETTINGS`, `monitor config`,
docs/configuration.md (written by `monitor.config.reference`, checked by a
test) and `load_settings` all derive from that one declaration.
"""

from __future__ import annotations

import dataclasses
import logging
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, dataclass_transform

import monitor.config.parsers as parsers
from monitor.domain.client_ip import TrustedProxies
from monitor.domain.durations import DAY, format_duration
from monitor.domain.urls import redact_url

# Every time-valued setting is a duration: `30s`, `5m`, `1h30m`, `7d`, `250ms`.
# A plain number keeps the unit the setting has always been documented in, so
# an existing MONITOR_EVENTS_RETENTION=30 still means 30 days, not 30 seconds.
IN_SECONDS = " A duration like 30s or 1h30m; a plain number counts seconds."
IN_DAYS = " A duration like 30d or 12h; a plain number counts days."
RETENTION = parsers.duration("1d", "36500d", bare_unit=DAY)


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the setting and the problem."""


# How a secret setting is shown: True hides it whole; a function shows what it
# returns (a URL with its password masked keeps the host visible).
Secret = bool | Callable[[str], str]
HIDDEN = "***"


@dataclass(frozen=True)
class SettingSpec:
    """One setting as declared: what `setting(...)` records, plus the field's name."""

    field: str
    env: tuple[str, ...]  # first is canonical; later names are accepted aliases
    default: str
    parse: Callable[[str], Any]
    help: str
    secret: Secret = False

    def shown(self, text: str) -> str:
        """`text` (the value as text) as `monitor config` may print it."""
        if not text or self.secret is False:
            return text
        return HIDDEN if self.secret is True else self.secret(text)


def setting(
    env: str | tuple[str, ...],
    default: str,
    parse: Callable[[str], Any],
    help: str,
    *,
    secret: Secret = False,
) -> Any:
    """Declare a field of Settings: read from `env`, `default` (text) when unset.

    A secret is also left out of the object's repr, so a traceback or a test's
    assertion message cannot print it.
    """
    names = (env,) if isinstance(env, str) else env
    return dataclasses.field(
        repr=secret is False, metadata={"setting": (names, default, parse, help, secret)}
    )


T = TypeVar("T")


# Lets type checkers read `setting(...)` as a required dataclass field.
@dataclass_transform(frozen_default=True, field_specifiers=(setting,))
def _settings_class(cls: type[T]) -> type[T]:
    return dataclass(frozen=True)(cls)


@_settings_class
class Settings:
    host: str = setting(
        "MONITOR_HOST",
        "127.0.0.1",
        parsers.host,
        "Address to listen on.",
    )
    port: int = setting(
        ("MONITOR_PORT", "PORT"),
        "8080",
        parsers.whole_number(0, 65535),
        "TCP port (0 picks one).",
    )
    public_url: str | None = setting(
        "MONITOR_PUBLIC_URL",
        "",
        parsers.optional_public_url,
        "The http(s) URL users reach the service at (behind a proxy, the proxy's); used in "
        "links and to check browsers' Origin. Empty: derived from the host and port.",
    )
    instance_id: str | None = setting(
        "MONITOR_INSTANCE_ID",
        "",
        parsers.optional_instance_id,
        "Name of this instance in /stats and the log; empty: host name and port.",
    )
    data_dir: Path = setting(
        "MONITOR_DATA_DIR",
        "./monitor-data",
        parsers.path,
        "Data directory; the embedded PostgreSQL lives in <data-dir>/postgres.",
    )
    database_url: str | None = setting(
        ("MONITOR_DATABASE_URL", "DATABASE_URL"),
        "",
        parsers.optional_url("postgresql", "postgres"),
        "PostgreSQL URL; empty starts the embedded PostgreSQL.",
        secret=redact_url,
    )
    redis_url: str | None = setting(
        ("MONITOR_REDIS_URL", "REDIS_URL"),
        "",
        parsers.optional_url("redis", "rediss", "unix"),
        "Redis URL; empty keeps the bus and rate limits in-process.",
        secret=redact_url,
    )
    secret_key: str | None = setting(
        "MONITOR_SECRET_KEY",
        "",
        parsers.optional_secret_key,
        "Key for session cookies and for encrypting stored secrets (32 characters or more); "
        "empty: generated once into <data-dir>/secret_key. Required with a Redis URL, the "
        "same on every instance.",
        secret=True,
    )
    secret_key_previous: str | None = setting(
        "MONITOR_SECRET_KEY_PREVIOUS",
        "",
        parsers.optional_secret_key,
        "The key MONITOR_SECRET_KEY replaced: still accepted while a rotation is under way.",
        secret=True,
    )
    log_level: str = setting(
        ("MONITOR_LOG_LEVEL", "LOG_LEVEL"),
        "info",
        parsers.log_level,
        "debug, info, warning, error or critical.",
    )
    db_pool_size: int = setting(
        "MONITOR_DB_POOL_SIZE",
        "8",
        parsers.whole_number(1, 200),
        "Database connections in the pool (also the worker-thread limit).",
    )
    db_statement_timeout: timedelta = setting(
        "MONITOR_DB_STATEMENT_TIMEOUT",
        "30s",
        parsers.duration("100ms", "1h"),
        "How long a SQL statement may run before PostgreSQL cancels it." + IN_SECONDS,
    )
    db_connect_timeout: timedelta = setting(
        "MONITOR_DB_CONNECT_TIMEOUT",
        "30s",
        parsers.duration("500ms", "1h"),
        "How long start-up waits for the database before giving up." + IN_SECONDS,
    )
    db_acquire_timeout: timedelta = setting(
        "MONITOR_DB_ACQUIRE_TIMEOUT",
        "5s",
        parsers.duration("100ms", "10m"),
        "How long a request waits for a pooled connection before answering 503." + IN_SECONDS,
    )
    max_request_bytes: int = setting(
        "MONITOR_MAX_REQUEST_BYTES",
        str(10 * 1024 * 1024),
        parsers.whole_number(1024, 1024**3),
        "Largest request body accepted; larger gets 413.",
    )
    shutdown_timeout: timedelta = setting(
        "MONITOR_SHUTDOWN_TIMEOUT",
        "8s",
        parsers.duration("500ms", "10m"),
        "How long a graceful stop may take in all; then what is left is cancelled." + IN_SECONDS,
    )
    header_timeout: timedelta = setting(
        "MONITOR_HEADER_TIMEOUT",
        "10s",
        parsers.duration("100ms", "1h"),
        "How long a client has to send a whole request head (from connecting, or from the "
        "first byte after an idle keep-alive wait); then the connection is closed." + IN_SECONDS,
    )
    keepalive_timeout: timedelta = setting(
        "MONITOR_KEEPALIVE_TIMEOUT",
        "15s",
        parsers.duration("100ms", "1h"),
        "How long an idle keep-alive connection is kept open waiting for its next request."
        + IN_SECONDS,
    )
    send_timeout: timedelta = setting(
        "MONITOR_SEND_TIMEOUT",
        "30s",
        parsers.duration("100ms", "1h"),
        "How long a write to a client may make no progress (it reads nothing) before the "
        "connection is closed." + IN_SECONDS,
    )
    max_connections_per_ip: int = setting(
        "MONITOR_MAX_CONNECTIONS_PER_IP",
        "128",
        parsers.whole_number(0, 10_000_000),
        "Most open connections from one client address (IPv6: one /64); more are closed at "
        "accept; 0: unlimited. Trusted proxies are exempt.",
    )
    key_usage_flush_interval: timedelta = setting(
        "MONITOR_KEY_USAGE_FLUSH_INTERVAL",
        "15s",
        parsers.duration("10ms", "1d"),
        "Time between batched writes of API keys' last_used_at." + IN_SECONDS,
    )
    events_retention: timedelta = setting(
        "MONITOR_EVENTS_RETENTION",
        "30d",
        RETENTION,
        "How long events are kept; older ones are refused at ingest and their "
        "partitions dropped." + IN_DAYS,
    )
    events_max_future_skew: timedelta = setting(
        "MONITOR_EVENTS_MAX_FUTURE_SKEW",
        "5m",
        parsers.duration("0s", "7d"),
        "How far in the future an event's time may lie (clock skew) before it is refused."
        + IN_SECONDS,
    )
    max_batch_items: int = setting(
        "MONITOR_MAX_BATCH_ITEMS",
        "10000",
        parsers.whole_number(1, 1_000_000),
        "Most items in one bulk request; more gets 413.",
    )
    max_decompressed_bytes: int = setting(
        "MONITOR_MAX_DECOMPRESSED_BYTES",
        str(64 * 1024 * 1024),
        parsers.whole_number(1024, 1024**3),
        "Largest gzip-compressed request body once decompressed; larger gets 413.",
    )
    ingest_queue_size: int = setting(
        "MONITOR_INGEST_QUEUE",
        "256",
        parsers.whole_number(1, 100_000),
        "Requests waiting for the ingest actor; when full, ingest answers 503.",
    )
    ingest_workers: int = setting(
        "MONITOR_INGEST_WORKERS",
        "2",
        parsers.whole_number(1, 32),
        "Transactions the ingest actor commits concurrently (each uses one connection).",
    )
    ingest_batch_rows: int = setting(
        "MONITOR_INGEST_BATCH_ROWS",
        "20000",
        parsers.whole_number(1, 1_000_000),
        "Most rows the ingest actor gathers into one transaction.",
    )
    ingest_timeout: timedelta = setting(
        "MONITOR_INGEST_TIMEOUT",
        "30s",
        parsers.duration("100ms", "1h"),
        "How long an ingest request waits for its commit before answering 503." + IN_SECONDS,
    )
    metrics_retention: timedelta = setting(
        "MONITOR_METRICS_RETENTION",
        "7d",
        RETENTION,
        "How long raw metric samples are kept; older ones are refused and their "
        "partitions dropped." + IN_DAYS,
    )
    rollup_1m_retention: timedelta = setting(
        "MONITOR_ROLLUP_1M_RETENTION",
        "30d",
        RETENTION,
        "How long 1-minute rollups are kept." + IN_DAYS,
    )
    rollup_1h_retention: timedelta = setting(
        "MONITOR_ROLLUP_1H_RETENTION",
        "400d",
        RETENTION,
        "How long 1-hour rollups are kept." + IN_DAYS,
    )
    audit_retention: timedelta = setting(
        "MONITOR_AUDIT_RETENTION",
        "400d",
        RETENTION,
        "How long audit log rows are kept; maintenance deletes older ones." + IN_DAYS,
    )
    alert_history_retention: timedelta = setting(
        "MONITOR_ALERT_HISTORY_RETENTION",
        "90d",
        RETENTION,
        "How long alert transitions and closed alert instances are kept; maintenance "
        "deletes older ones (open instances stay)." + IN_DAYS,
    )
    silence_retention: timedelta = setting(
        "MONITOR_SILENCE_RETENTION",
        "5d",
        RETENTION,
        "How long a silence is kept after it ended or was expired (Alertmanager keeps "
        "them 5 days too); the audit log keeps its making and expiry." + IN_DAYS,
    )
    rollup_interval: timedelta = setting(
        "MONITOR_ROLLUP_INTERVAL",
        "10s",
        parsers.duration("100ms", "1h"),
        "Time between rollup runs: complete minutes of samples older than 30 s are rolled "
        "up, and newly committed events are added to the event counts." + IN_SECONDS,
    )
    alert_leader_poll: timedelta = setting(
        "MONITOR_ALERT_LEADER_POLL",
        "5s",
        parsers.duration("100ms", "1m"),
        "How often an instance asks to lead alert evaluation, and how often the leader "
        "refreshes its heartbeat: a dead leader is replaced about this long after the "
        "database ends its session." + IN_SECONDS,
    )
    alert_evaluator_tick: timedelta = setting(
        "MONITOR_ALERT_EVALUATOR_TICK",
        "1s",
        parsers.duration("10ms", "10s"),
        "How often the leading instance looks for alert rules that are due; each rule is "
        "evaluated at its own interval, so this only bounds how late a due rule starts."
        + IN_SECONDS,
    )
    notifier_tick: timedelta = setting(
        "MONITOR_NOTIFIER_TICK",
        "1s",
        parsers.duration("10ms", "1m"),
        "How often the leading instance plans notifications: reads new alert transitions "
        "into notification groups and queues the messages that are due. A group is told "
        "at most this long after its timer comes." + IN_SECONDS,
    )
    notifier_rescan: timedelta = setting(
        "MONITOR_NOTIFIER_RESCAN",
        "15s",
        parsers.duration("1s", "10m"),
        "How often the notification planner looks at every group, not only those with "
        "news or due: silences and inhibitions begin and end without a transition, so an "
        "alert that stops being muted is told at most about this long later." + IN_SECONDS,
    )
    notifier_alertmanager_repost: timedelta = setting(
        "MONITOR_NOTIFIER_ALERTMANAGER_REPOST",
        "1m",
        parsers.duration("1s", "1h"),
        "How often Alertmanager channels are sent again the firing alerts they were told: "
        "Alertmanager resolves an alert not re-sent within its resolve_timeout (5 min by "
        "default), so keep this well below it." + IN_SECONDS,
    )
    outbound_connect_timeout: timedelta = setting(
        "MONITOR_OUTBOUND_CONNECT_TIMEOUT",
        "5s",
        parsers.duration("100ms", "1m"),
        "How long a notification (or a channel's test) may take to connect to its receiver, "
        "name resolution included." + IN_SECONDS,
    )
    outbound_read_timeout: timedelta = setting(
        "MONITOR_OUTBOUND_READ_TIMEOUT",
        "10s",
        parsers.duration("100ms", "5m"),
        "How long a receiver may keep a notification waiting between two reads or writes."
        + IN_SECONDS,
    )
    outbound_timeout: timedelta = setting(
        "MONITOR_OUTBOUND_TIMEOUT",
        "30s",
        parsers.duration("100ms", "10m"),
        "How long one outbound request may take in all, redirects and the answer's body "
        "included (SMTP: the whole conversation)." + IN_SECONDS,
    )
    outbound_max_response_bytes: int = setting(
        "MONITOR_OUTBOUND_MAX_RESPONSE_BYTES",
        str(256 * 1024),
        parsers.whole_number(1024, 64 * 1024 * 1024),
        "Most bytes of a receiver's answer read (decompressed); past it reading stops and "
        "the request fails as too large.",
    )
    outbound_max_redirects: int = setting(
        "MONITOR_OUTBOUND_MAX_REDIRECTS",
        "3",
        parsers.whole_number(0, 20),
        "Redirects an outbound request follows; one more fails it (0: none are followed).",
    )
    outbound_refuse_private: bool = setting(
        "MONITOR_OUTBOUND_REFUSE_PRIVATE",
        "false",
        parsers.boolean,
        "true: notifications and channel tests refuse receivers whose address (as resolved, "
        "for every address a name resolves to, and after each redirect) is not public: "
        "private, loopback, link-local, shared, multicast or reserved.",
    )
    notification_max_age: timedelta = setting(
        "MONITOR_NOTIFICATION_MAX_AGE",
        "1h",
        parsers.duration("1s", "7d"),
        "How long a notification is retried after it was queued; then it is marked failed "
        "with the last error." + IN_SECONDS,
    )
    notification_retry_initial: timedelta = setting(
        "MONITOR_NOTIFICATION_RETRY_INITIAL",
        "10s",
        parsers.duration("10ms", "1h"),
        "Wait before a failed notification's first retry; each later wait doubles (with "
        "jitter) up to MONITOR_NOTIFICATION_RETRY_CAP." + IN_SECONDS,
    )
    notification_retry_cap: timedelta = setting(
        "MONITOR_NOTIFICATION_RETRY_CAP",
        "5m",
        parsers.duration("10ms", "1d"),
        "Longest wait between two attempts at a notification (a receiver's Retry-After may "
        "ask for more, up to 15 minutes)." + IN_SECONDS,
    )
    notification_poll: timedelta = setting(
        "MONITOR_NOTIFICATION_POLL",
        "1s",
        parsers.duration("10ms", "1m"),
        "How often each instance looks for notifications due to be sent." + IN_SECONDS,
    )
    notification_channel_concurrency: int = setting(
        "MONITOR_NOTIFICATION_CHANNEL_CONCURRENCY",
        "4",
        parsers.whole_number(1, 100),
        "Notifications one instance sends to one channel at once.",
    )
    notification_concurrency: int = setting(
        "MONITOR_NOTIFICATION_CONCURRENCY",
        "32",
        parsers.whole_number(1, 1000),
        "Notifications one instance sends at once, all channels together.",
    )
    notification_log_retention: timedelta = setting(
        "MONITOR_NOTIFICATION_LOG_RETENTION",
        "30d",
        RETENTION,
        "How long delivered and failed notifications are kept in the delivery log, with "
        "their attempts; queued ones are kept until they finish." + IN_DAYS,
    )
    max_series: int = setting(
        "MONITOR_MAX_SERIES",
        "100000",
        parsers.whole_number(1, 100_000_000),
        "Most live series in all; also the size of the ingest path's series cache.",
    )
    max_series_per_metric: int = setting(
        "MONITOR_MAX_SERIES_PER_METRIC",
        "10000",
        parsers.whole_number(1, 100_000_000),
        "Most live series of one metric name; a new series beyond it gets 422.",
    )
    maintenance_interval: timedelta = setting(
        "MONITOR_MAINTENANCE_INTERVAL",
        "10m",
        parsers.duration("1s", "1d"),
        "Time between maintenance runs (partitions ahead, retention)." + IN_SECONDS,
    )
    key_cache_ttl: timedelta = setting(
        "MONITOR_KEY_CACHE_TTL",
        "5s",
        parsers.duration("0s", "1h"),
        "How long an API key lookup is cached (revocation elsewhere takes effect within it)."
        + IN_SECONDS,
    )
    session_idle_timeout: timedelta = setting(
        "MONITOR_SESSION_IDLE_TIMEOUT",
        "12h",
        parsers.duration("1m", "30d"),
        "How long a dashboard session may go unused before it ends (sign in again)." + IN_SECONDS,
    )
    session_max_age: timedelta = setting(
        "MONITOR_SESSION_MAX_AGE",
        "7d",
        parsers.duration("1m", "400d"),
        "How long a dashboard session lasts at most from sign-in, however much it is used."
        + IN_SECONDS,
    )
    rate_limit_per_key: int = setting(
        "MONITOR_RATE_LIMIT_PER_KEY",
        "36000",
        parsers.whole_number(0, 1_000_000_000),
        "Requests per hour for a key whose rate_limit is null (burst of as many); 0: unlimited.",
    )
    rate_limit_per_ip: int = setting(
        "MONITOR_RATE_LIMIT_PER_IP",
        "6000",
        parsers.whole_number(0, 1_000_000_000),
        "Requests per minute from one client address (burst of as many); 0: unlimited.",
    )
    auth_failures_per_ip: int = setting(
        "MONITOR_AUTH_FAILURES_PER_IP",
        "10",
        parsers.whole_number(0, 1_000_000_000),
        "Failed authentications per minute from one client address before 429; 0: unlimited.",
    )
    trusted_proxies: TrustedProxies = setting(
        "MONITOR_TRUSTED_PROXIES",
        "",
        TrustedProxies.parse,
        "Comma-separated proxy addresses/networks whose X-Forwarded-For names the client.",
    )
    rate_limit_identities: int = setting(
        "MONITOR_RATE_LIMIT_IDENTITIES",
        "100000",
        parsers.whole_number(1, 100_000_000),
        "Most keys and addresses whose in-memory rate-limit state is kept at once.",
    )
    redis_prefix: str = setting(
        "MONITOR_REDIS_PREFIX",
        "monitor:",
        parsers.redis_prefix,
        "Prefix of every Redis key and pub/sub channel (instances that share it stream together).",
    )
    dashboard_cache_bytes: int = setting(
        "MONITOR_DASHBOARD_CACHE_BYTES",
        str(32 * 1024 * 1024),
        parsers.whole_number(0, 1024**4),
        "Most bytes of dashboard results kept in this process until their tick ends; 0: none.",
    )
    ws_max_subscriptions: int = setting(
        "MONITOR_WS_MAX_SUBSCRIPTIONS",
        "16",
        parsers.whole_number(1, 1000),
        "Most subscriptions one websocket connection may hold.",
    )
    ws_max_connections_per_key: int = setting(
        "MONITOR_WS_MAX_CONNECTIONS_PER_KEY",
        "50",
        parsers.whole_number(1, 100_000),
        "Most websocket connections one API key may hold open on one instance.",
    )
    ws_coalesce_window: timedelta = setting(
        "MONITOR_WS_COALESCE_WINDOW",
        "50ms",
        parsers.duration("0s", "5s"),
        "How long live items are gathered before they are sent, so a busy stream costs few "
        "frames." + IN_SECONDS,
    )
    ws_queue_size: int = setting(
        "MONITOR_WS_QUEUE",
        "64",
        parsers.whole_number(2, 100_000),
        "Frames waiting for one websocket client; when full, its oldest data is dropped.",
    )
    ws_stall_timeout: timedelta = setting(
        "MONITOR_WS_STALL_TIMEOUT",
        "10s",
        parsers.duration("100ms", "1h"),
        "How long a client may leave a full queue unread before it is closed with 1013."
        + IN_SECONDS,
    )
    ws_heartbeat_interval: timedelta = setting(
        "MONITOR_WS_HEARTBEAT_INTERVAL",
        "15s",
        parsers.duration("50ms", "1h"),
        "Time between heartbeat messages on an open websocket." + IN_SECONDS,
    )
    ws_stats_interval: timedelta = setting(
        "MONITOR_WS_STATS_INTERVAL",
        "5s",
        parsers.duration("50ms", "1h"),
        "Time between pushes on the `stats` channel." + IN_SECONDS,
    )
    bus_queue_size: int = setting(
        "MONITOR_BUS_QUEUE",
        "1024",
        parsers.whole_number(1, 1_000_000),
        "Committed batches waiting to be published live; when full, dropped and counted.",
    )

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes`; a duration must be given as a timedelta (a bare
        number would be ambiguous, and would fail far from here)."""
        for name, value in changes.items():
            if name in _DURATIONS and not isinstance(value, timedelta):
                raise TypeError(f"{name} is a duration: give a timedelta, not {value!r}")
        return dataclasses.replace(self, **changes)

    def redacted(self) -> dict[str, str]:
        """Every setting as text (durations written like 30s), secrets hidden or masked."""
        shown: dict[str, str] = {}
        for spec in SETTINGS:
            value = getattr(self, spec.field)
            if value is None:
                text = ""
            elif isinstance(value, timedelta):
                text = format_duration(value)
            else:
                text = str(value)
            shown[spec.field] = spec.shown(text)
        return shown


SETTINGS: tuple[SettingSpec, ...] = tuple(
    SettingSpec(declared.name, *declared.metadata["setting"])
    for declared in dataclasses.fields(Settings)
)
_DURATIONS = frozenset(
    name for name, kind in typing.get_type_hints(Settings).items() if kind is timedelta
)


def load_settings(
    environ: Mapping[str, str], overrides: Mapping[str, str | None] | None = None
) -> Settings:
    """Build Settings from environment variables, then command-line overrides.

    Raises SettingsError naming the first invalid setting.
    """
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for spec in SETTINGS:
        source, raw = _raw_value(spec, environ, overrides)
        try:
            values[spec.field] = spec.parse(raw)
        except ValueError as problem:
            raise SettingsError(f"invalid setting {source}: {problem}") from None
    return Settings(**values)


def _raw_value(
    spec: SettingSpec, environ: Mapping[str, str], overrides: Mapping[str, str | None]
) -> tuple[str, str]:
    override = overrides.get(spec.field)
    if override is not None:
        return f"--{spec.field.replace('_', '-')}", override
    for name in spec.env:
        if name in environ:
            return name, environ[name]
    return spec.env[0], spec.default
