"""Settings: one frozen object built from the environment and command-line overrides.

`SETTINGS` is the single table of every setting (environment names, default,
help). The README's settings table and the tests are checked against it, so the
documentation cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.domain.client_ip import TrustedProxies
from monitor.domain.urls import redact_url


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the setting and the problem."""


def _parse_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _parse_float(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _parse_host(raw: str) -> str:
    host = raw.strip().strip("[]")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if (
        host
        and len(host) <= 253
        and all(
            re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label) for label in labels
        )
        and not labels[-1].isdigit()
    ):
        return host
    raise ValueError(f"must be an IP address or host name, got {raw!r}")


def _parse_path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("must not be empty")
    return Path(raw.strip()).expanduser()


def _parse_optional_url(*schemes: str) -> Callable[[str], str | None]:
    def parse(raw: str) -> str | None:
        url = raw.strip()
        if not url:
            return None
        scheme = urlsplit(url).scheme
        if scheme not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            raise ValueError(f"must start with {allowed}")
        return url

    return parse


def _parse_log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"must be one of debug, info, warning, error, critical, got {raw!r}")
    return level


def _parse_redis_prefix(raw: str) -> str:
    prefix = raw.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.:\-]{1,64}", prefix):
        raise ValueError(f"must be 1 to 64 letters, digits or _ . : -, got {raw!r}")
    return prefix


@dataclass(frozen=True)
class SettingSpec:
    """One row of the settings table."""

    field: str
    env: tuple[str, ...]  # first is canonical; later names are accepted aliases
    default: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("host", ("MONITOR_HOST",), "127.0.0.1", _parse_host, "Address to listen on."),
    SettingSpec(
        "port", ("MONITOR_PORT", "PORT"), "8080", _parse_int(0, 65535), "TCP port (0 picks one)."
    ),
    SettingSpec(
        "data_dir",
        ("MONITOR_DATA_DIR",),
        "./monitor-data",
        _parse_path,
        "Data directory; the embedded PostgreSQL lives in <data-dir>/postgres.",
    ),
    SettingSpec(
        "database_url",
        ("MONITOR_DATABASE_URL", "DATABASE_URL"),
        "",
        _parse_optional_url("postgresql", "postgres"),
        "PostgreSQL URL; empty starts the embedded PostgreSQL.",
        secret=True,
    ),
    SettingSpec(
        "redis_url",
        ("MONITOR_REDIS_URL", "REDIS_URL"),
        "",
        _parse_optional_url("redis", "rediss", "unix"),
        "Redis URL; empty keeps the bus and rate limits in-process.",
        secret=True,
    ),
    SettingSpec(
        "log_level",
        ("MONITOR_LOG_LEVEL", "LOG_LEVEL"),
        "info",
        _parse_log_level,
        "debug, info, warning, error or critical.",
    ),
    SettingSpec(
        "db_pool_size",
        ("MONITOR_DB_POOL_SIZE",),
        "8",
        _parse_int(1, 200),
        "Database connections in the pool (also the worker-thread limit).",
    ),
    SettingSpec(
        "db_statement_timeout",
        ("MONITOR_DB_STATEMENT_TIMEOUT",),
        "30",
        _parse_float(0.1, 3600),
        "Seconds a SQL statement may run before PostgreSQL cancels it.",
    ),
    SettingSpec(
        "db_connect_timeout",
        ("MONITOR_DB_CONNECT_TIMEOUT",),
        "30",
        _parse_float(0.5, 3600),
        "Seconds start-up waits for the database before giving up.",
    ),
    SettingSpec(
        "db_acquire_timeout",
        ("MONITOR_DB_ACQUIRE_TIMEOUT",),
        "5",
        _parse_float(0.1, 600),
        "Seconds a request waits for a pooled connection before answering 503.",
    ),
    SettingSpec(
        "max_request_bytes",
        ("MONITOR_MAX_REQUEST_BYTES",),
        str(10 * 1024 * 1024),
        _parse_int(1024, 1024**3),
        "Largest request body accepted; larger gets 413.",
    ),
    SettingSpec(
        "shutdown_timeout",
        ("MONITOR_SHUTDOWN_TIMEOUT",),
        "8",
        _parse_float(0.5, 600),
        "Seconds a graceful stop may take in all; then what is left is cancelled.",
    ),
    SettingSpec(
        "header_timeout",
        ("MONITOR_HEADER_TIMEOUT",),
        "10",
        _parse_float(0.1, 3600),
        "Seconds a client has to send a whole request head (from connecting, or from the "
        "first byte after an idle keep-alive wait); then the connection is closed.",
    ),
    SettingSpec(
        "keepalive_timeout",
        ("MONITOR_KEEPALIVE_TIMEOUT",),
        "15",
        _parse_float(0.1, 3600),
        "Seconds an idle keep-alive connection is kept open waiting for its next request.",
    ),
    SettingSpec(
        "send_timeout",
        ("MONITOR_SEND_TIMEOUT",),
        "30",
        _parse_float(0.1, 3600),
        "Seconds a write to a client may make no progress (it reads nothing) before the "
        "connection is closed.",
    ),
    SettingSpec(
        "max_connections_per_ip",
        ("MONITOR_MAX_CONNECTIONS_PER_IP",),
        "128",
        _parse_int(0, 10_000_000),
        "Most open connections from one client address (IPv6: one /64); more are closed at "
        "accept; 0: unlimited. Trusted proxies are exempt.",
    ),
    SettingSpec(
        "key_usage_flush_interval",
        ("MONITOR_KEY_USAGE_FLUSH_INTERVAL",),
        "15",
        _parse_float(0.01, 86400),
        "Seconds between batched writes of API keys' last_used_at.",
    ),
    SettingSpec(
        "events_retention_days",
        ("MONITOR_EVENTS_RETENTION",),
        "30",
        _parse_int(1, 36500),
        "Days events are kept; older ones are refused at ingest and their partitions dropped.",
    ),
    SettingSpec(
        "events_max_future_skew",
        ("MONITOR_EVENTS_MAX_FUTURE_SKEW",),
        "300",
        _parse_float(0, 86400 * 7),
        "Seconds an event's time may lie in the future (clock skew) before it is refused.",
    ),
    SettingSpec(
        "max_batch_items",
        ("MONITOR_MAX_BATCH_ITEMS",),
        "10000",
        _parse_int(1, 1_000_000),
        "Most items in one bulk request; more gets 413.",
    ),
    SettingSpec(
        "max_decompressed_bytes",
        ("MONITOR_MAX_DECOMPRESSED_BYTES",),
        str(64 * 1024 * 1024),
        _parse_int(1024, 1024**3),
        "Largest gzip-compressed request body once decompressed; larger gets 413.",
    ),
    SettingSpec(
        "ingest_queue_size",
        ("MONITOR_INGEST_QUEUE",),
        "256",
        _parse_int(1, 100_000),
        "Requests waiting for the ingest actor; when full, ingest answers 503.",
    ),
    SettingSpec(
        "ingest_workers",
        ("MONITOR_INGEST_WORKERS",),
        "2",
        _parse_int(1, 32),
        "Transactions the ingest actor commits concurrently (each uses one connection).",
    ),
    SettingSpec(
        "ingest_batch_rows",
        ("MONITOR_INGEST_BATCH_ROWS",),
        "20000",
        _parse_int(1, 1_000_000),
        "Most rows the ingest actor gathers into one transaction.",
    ),
    SettingSpec(
        "ingest_timeout",
        ("MONITOR_INGEST_TIMEOUT",),
        "30",
        _parse_float(0.1, 3600),
        "Seconds an ingest request waits for its commit before answering 503.",
    ),
    SettingSpec(
        "metrics_retention_days",
        ("MONITOR_METRICS_RETENTION",),
        "7",
        _parse_int(1, 36500),
        "Days raw metric samples are kept; older ones are refused and their partitions dropped.",
    ),
    SettingSpec(
        "rollup_1m_retention_days",
        ("MONITOR_ROLLUP_1M_RETENTION",),
        "30",
        _parse_int(1, 36500),
        "Days 1-minute rollups are kept.",
    ),
    SettingSpec(
        "rollup_1h_retention_days",
        ("MONITOR_ROLLUP_1H_RETENTION",),
        "400",
        _parse_int(1, 36500),
        "Days 1-hour rollups are kept.",
    ),
    SettingSpec(
        "rollup_interval",
        ("MONITOR_ROLLUP_INTERVAL",),
        "10",
        _parse_float(0.1, 3600),
        "Seconds between rollup runs (complete minutes older than 30 s are rolled up).",
    ),
    SettingSpec(
        "max_series",
        ("MONITOR_MAX_SERIES",),
        "100000",
        _parse_int(1, 100_000_000),
        "Most live series in all; also the size of the ingest path's series cache.",
    ),
    SettingSpec(
        "max_series_per_metric",
        ("MONITOR_MAX_SERIES_PER_METRIC",),
        "10000",
        _parse_int(1, 100_000_000),
        "Most live series of one metric name; a new series beyond it gets 422.",
    ),
    SettingSpec(
        "maintenance_interval",
        ("MONITOR_MAINTENANCE_INTERVAL",),
        "600",
        _parse_float(1, 86400),
        "Seconds between maintenance runs (partitions ahead, retention).",
    ),
    SettingSpec(
        "key_cache_ttl",
        ("MONITOR_KEY_CACHE_TTL",),
        "5",
        _parse_float(0, 3600),
        "Seconds an API key lookup is cached (revocation elsewhere takes effect within it).",
    ),
    SettingSpec(
        "rate_limit_per_key",
        ("MONITOR_RATE_LIMIT_PER_KEY",),
        "36000",
        _parse_int(0, 1_000_000_000),
        "Requests per hour for a key whose rate_limit is null (burst of as many); 0: unlimited.",
    ),
    SettingSpec(
        "rate_limit_per_ip",
        ("MONITOR_RATE_LIMIT_PER_IP",),
        "6000",
        _parse_int(0, 1_000_000_000),
        "Requests per minute from one client address (burst of as many); 0: unlimited.",
    ),
    SettingSpec(
        "auth_failures_per_ip",
        ("MONITOR_AUTH_FAILURES_PER_IP",),
        "10",
        _parse_int(0, 1_000_000_000),
        "Failed authentications per minute from one client address before 429; 0: unlimited.",
    ),
    SettingSpec(
        "trusted_proxies",
        ("MONITOR_TRUSTED_PROXIES",),
        "",
        TrustedProxies.parse,
        "Comma-separated proxy addresses/networks whose X-Forwarded-For names the client.",
    ),
    SettingSpec(
        "rate_limit_identities",
        ("MONITOR_RATE_LIMIT_IDENTITIES",),
        "100000",
        _parse_int(1, 100_000_000),
        "Most keys and addresses whose in-memory rate-limit state is kept at once.",
    ),
    SettingSpec(
        "redis_prefix",
        ("MONITOR_REDIS_PREFIX",),
        "monitor:",
        _parse_redis_prefix,
        "Prefix of every Redis key and pub/sub channel (instances that share it stream together).",
    ),
    SettingSpec(
        "ws_max_subscriptions",
        ("MONITOR_WS_MAX_SUBSCRIPTIONS",),
        "16",
        _parse_int(1, 1000),
        "Most subscriptions one websocket connection may hold.",
    ),
    SettingSpec(
        "ws_max_connections_per_key",
        ("MONITOR_WS_MAX_CONNECTIONS_PER_KEY",),
        "50",
        _parse_int(1, 100_000),
        "Most websocket connections one API key may hold open on one instance.",
    ),
    SettingSpec(
        "ws_coalesce_window",
        ("MONITOR_WS_COALESCE_WINDOW",),
        "0.05",
        _parse_float(0, 5),
        "Seconds live items are gathered before they are sent, so a busy stream costs few frames.",
    ),
    SettingSpec(
        "ws_queue_size",
        ("MONITOR_WS_QUEUE",),
        "64",
        _parse_int(2, 100_000),
        "Frames waiting for one websocket client; when full, its oldest data is dropped.",
    ),
    SettingSpec(
        "ws_stall_timeout",
        ("MONITOR_WS_STALL_TIMEOUT",),
        "10",
        _parse_float(0.1, 3600),
        "Seconds a client may leave a full queue unread before it is closed with 1013.",
    ),
    SettingSpec(
        "ws_heartbeat_interval",
        ("MONITOR_WS_HEARTBEAT_INTERVAL",),
        "15",
        _parse_float(0.05, 3600),
        "Seconds between heartbeat messages on an open websocket.",
    ),
    SettingSpec(
        "ws_stats_interval",
        ("MONITOR_WS_STATS_INTERVAL",),
        "5",
        _parse_float(0.05, 3600),
        "Seconds between pushes on the `stats` channel.",
    ),
    SettingSpec(
        "bus_queue_size",
        ("MONITOR_BUS_QUEUE",),
        "1024",
        _parse_int(1, 1_000_000),
        "Committed batches waiting to be published live; when full, dropped and counted.",
    ),
)


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    data_dir: Path
    database_url: str | None
    redis_url: str | None
    log_level: str
    db_pool_size: int
    db_statement_timeout: float
    db_connect_timeout: float
    db_acquire_timeout: float
    max_request_bytes: int
    shutdown_timeout: float
    header_timeout: float
    keepalive_timeout: float
    send_timeout: float
    max_connections_per_ip: int
    key_usage_flush_interval: float
    events_retention_days: int
    events_max_future_skew: float
    max_batch_items: int
    max_decompressed_bytes: int
    ingest_queue_size: int
    ingest_workers: int
    ingest_batch_rows: int
    ingest_timeout: float
    metrics_retention_days: int
    rollup_1m_retention_days: int
    rollup_1h_retention_days: int
    rollup_interval: float
    max_series: int
    max_series_per_metric: int
    maintenance_interval: float
    key_cache_ttl: float
    rate_limit_per_key: int
    rate_limit_per_ip: int
    auth_failures_per_ip: int
    trusted_proxies: TrustedProxies
    rate_limit_identities: int
    redis_prefix: str
    ws_max_subscriptions: int
    ws_max_connections_per_key: int
    ws_coalesce_window: float
    ws_queue_size: int
    ws_stall_timeout: float
    ws_heartbeat_interval: float
    ws_stats_interval: float
    bus_queue_size: int

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]

    @property
    def events_retention(self) -> timedelta:
        return timedelta(days=self.events_retention_days)

    @property
    def metrics_retention(self) -> timedelta:
        return timedelta(days=self.metrics_retention_days)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def redacted(self) -> dict[str, str]:
        """Every setting as text, with secrets (URL passwords) masked."""
        shown: dict[str, str] = {}
        for spec in SETTINGS:
            value = getattr(self, spec.field)
            text = "" if value is None else str(value)
            shown[spec.field] = redact_url(text) if spec.secret else text
        return shown


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
