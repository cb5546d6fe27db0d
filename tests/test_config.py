from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import SETTINGS, SettingsError, load_settings
from monitor.config.reference import render
from monitor.domain.durations import format_duration
from monitor.domain.urls import redact_url


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.database_url is None  # embedded PostgreSQL
    assert settings.redis_url is None
    assert settings.data_dir == Path("monitor-data")


@pytest.mark.parametrize(
    ("variable", "field", "raw", "expected"),
    [
        ("PORT", "port", "9000", 9000),
        ("LOG_LEVEL", "log_level", "debug", "DEBUG"),
        ("DATABASE_URL", "database_url", "postgresql://a@b/c", "postgresql://a@b/c"),
        ("REDIS_URL", "redis_url", "redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("MONITOR_DATA_DIR", "data_dir", "/var/lib/monitor", Path("/var/lib/monitor")),
    ],
)
def test_unprefixed_names_of_the_original_specification_work(
    variable: str, field: str, raw: str, expected: object
) -> None:
    assert getattr(load_settings({variable: raw}), field) == expected


def test_prefixed_name_wins_over_alias_and_override_wins_over_both() -> None:
    environ = {"PORT": "1", "MONITOR_PORT": "2"}
    assert load_settings(environ).port == 2
    assert load_settings(environ, {"port": "3"}).port == 3


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MONITOR_PORT": "eighty"}, "MONITOR_PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"MONITOR_DB_POOL_SIZE": "0"}, "MONITOR_DB_POOL_SIZE"),
        ({"MONITOR_HOST": "bad host"}, "MONITOR_HOST"),
    ],
)
def test_an_invalid_setting_is_named_in_one_line(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    message = str(raised.value)
    assert named in message
    assert "\n" not in message


def test_override_errors_name_the_command_line_option() -> None:
    with pytest.raises(SettingsError, match="--port"):
        load_settings({}, {"port": "x"})


def test_secrets_are_redacted_but_hosts_stay_visible() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://monitor:hunter2@db:5432/monitor",
            "REDIS_URL": "redis://:s3cret@cache:6379/0",
        }
    )
    shown = settings.redacted()
    assert "hunter2" not in shown["database_url"]
    assert "s3cret" not in shown["redis_url"]
    assert shown["database_url"] == "postgresql://monitor:***@db:5432/monitor"
    assert "cache:6379" in shown["redis_url"]
    assert redact_url("postgresql://db/monitor") == "postgresql://db/monitor"


CONFIGURATION_DOC = Path(__file__).parent.parent / "docs" / "configuration.md"


def test_the_configuration_page_is_what_the_declarations_generate() -> None:
    assert CONFIGURATION_DOC.read_text() == render(), (
        "docs/configuration.md is stale: run "
        "`python -m monitor.config.reference > docs/configuration.md`"
    )


def test_every_setting_is_documented_with_its_default_and_aliases() -> None:
    rows = {}
    for line in CONFIGURATION_DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`MONITOR_"):
            rows[cells[0].strip("`")] = cells
    for spec in SETTINGS:
        assert spec.env[0] in rows, f"docs/configuration.md does not document {spec.env[0]}"
        _, aliases, default, _ = rows[spec.env[0]]
        assert aliases == ", ".join(f"`{name}`" for name in spec.env[1:]), spec.env[0]
        shown = f"`{spec.default}`" if spec.default else "(empty)"
        assert default == shown, (spec.env[0], default, shown)
    assert set(rows) == {spec.env[0] for spec in SETTINGS}, "the page documents unknown settings"


def test_a_setting_no_group_claims_still_appears_under_other() -> None:
    stray = dataclasses.replace(SETTINGS[0], field="x", env=("MONITOR_SOMETHING_NEW",))
    page = render((*SETTINGS, stray))
    other = page.split("\n## Other\n", 1)[1]
    assert "`MONITOR_SOMETHING_NEW`" in other


def test_passwords_in_the_query_string_are_redacted_too() -> None:
    assert redact_url("postgresql://db/monitor?user=m&password=qsecret&sslmode=require") == (
        "postgresql://db/monitor?user=m&password=***&sslmode=require"
    )


# --- durations ---------------------------------------------------------------

RETENTION_SETTINGS = [
    ("MONITOR_EVENTS_RETENTION", "events_retention"),
    ("MONITOR_METRICS_RETENTION", "metrics_retention"),
    ("MONITOR_ROLLUP_1M_RETENTION", "rollup_1m_retention"),
    ("MONITOR_ROLLUP_1H_RETENTION", "rollup_1h_retention"),
]
TIME_NAME = re.compile(r"_(TIMEOUT|INTERVAL|RETENTION|TTL|WINDOW|SKEW)$")


def test_every_time_valued_setting_is_a_duration_written_as_one() -> None:
    settings = load_settings({})
    timed = [spec for spec in SETTINGS if TIME_NAME.search(spec.env[0])]
    assert len(timed) >= 20
    for spec in timed:
        value = getattr(settings, spec.field)
        assert isinstance(value, timedelta), spec.env[0]
        assert format_duration(value) == spec.default, spec.env[0]  # the default is canonical
        assert settings.redacted()[spec.field] == spec.default  # `monitor config` shows it so


@pytest.mark.parametrize(("variable", "field"), RETENTION_SETTINGS)
def test_a_bare_retention_still_counts_days(variable: str, field: str) -> None:
    # MONITOR_EVENTS_RETENTION=30 has always meant 30 days: read as seconds it
    # would drop a deployment's data.
    assert getattr(load_settings({variable: "30"}), field) == timedelta(days=30)
    assert getattr(load_settings({variable: "1.5"}), field) == timedelta(hours=36)
    assert getattr(load_settings({variable: "36h"}), field) == timedelta(hours=36)
    assert getattr(load_settings({variable: "2w"}), field) == timedelta(days=14)


@pytest.mark.parametrize(("variable", "field"), RETENTION_SETTINGS)
def test_a_retention_under_a_day_is_refused(variable: str, field: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}: must be between 1d and 36500d"):
        load_settings({variable: "30s"})


@pytest.mark.parametrize(
    ("variable", "field", "raw", "expected"),
    [
        ("MONITOR_SHUTDOWN_TIMEOUT", "shutdown_timeout", "8", timedelta(seconds=8)),
        ("MONITOR_SHUTDOWN_TIMEOUT", "shutdown_timeout", "1m30s", timedelta(seconds=90)),
        ("MONITOR_DB_ACQUIRE_TIMEOUT", "db_acquire_timeout", "2.5", timedelta(seconds=2.5)),
        ("MONITOR_WS_COALESCE_WINDOW", "ws_coalesce_window", "0.05", timedelta(milliseconds=50)),
        ("MONITOR_WS_COALESCE_WINDOW", "ws_coalesce_window", "20ms", timedelta(milliseconds=20)),
        ("MONITOR_MAINTENANCE_INTERVAL", "maintenance_interval", "600", timedelta(minutes=10)),
        ("MONITOR_KEY_CACHE_TTL", "key_cache_ttl", "0", timedelta(0)),
        ("MONITOR_EVENTS_MAX_FUTURE_SKEW", "events_max_future_skew", "1h", timedelta(hours=1)),
    ],
)
def test_other_durations_take_strings_and_bare_seconds(
    variable: str, field: str, raw: str, expected: timedelta
) -> None:
    assert getattr(load_settings({variable: raw}), field) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"MONITOR_SHUTDOWN_TIMEOUT": "soon"},
            "MONITOR_SHUTDOWN_TIMEOUT: must be a duration such as 30s, 5m, 1h30m, 7d or 250ms "
            "(units w, d, h, m, s, ms, largest first) or a plain number of seconds, got 'soon'",
        ),
        (
            {"MONITOR_EVENTS_RETENTION": "a month"},
            "or a plain number of days, got 'a month'",
        ),
        ({"MONITOR_SHUTDOWN_TIMEOUT": "11m"}, "must be between 500ms and 10m, got '11m'"),
        ({"MONITOR_HEADER_TIMEOUT": "-1"}, "MONITOR_HEADER_TIMEOUT: must not be negative"),
        ({"MONITOR_ROLLUP_INTERVAL": "1.5h"}, "1h30m"),
    ],
)
def test_a_bad_duration_is_refused_in_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_replace_refuses_a_bare_number_for_a_duration() -> None:
    settings = load_settings({})
    with pytest.raises(TypeError, match="shutdown_timeout is a duration"):
        settings.replace(shutdown_timeout=5)
    assert settings.replace(shutdown_timeout=timedelta(seconds=5)).shutdown_timeout.seconds == 5


# --- public URL, instance id, secret keys -------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://monitor.example.com", "https://monitor.example.com"),
        ("https://monitor.example.com/", "https://monitor.example.com"),
        (
            "HTTPS://Monitor.Example.COM:8443/Tools/Monitor/",
            "https://monitor.example.com:8443/Tools/Monitor",
        ),
        ("http://[2001:db8::1]:8080", "http://[2001:db8::1]:8080"),
        ("  http://10.0.0.5  ", "http://10.0.0.5"),
        ("", None),
    ],
)
def test_public_url_is_normalised(raw: str, expected: str | None) -> None:
    assert load_settings({"MONITOR_PUBLIC_URL": raw}).public_url == expected


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("monitor.example.com", "http:// or https://"),
        ("ftp://monitor.example.com", "http:// or https://"),
        ("https://", "with a host"),
        ("https://monitor.example.com/?next=/", "query"),
        ("https://monitor.example.com/#top", "fragment"),
        ("https://monitor.example.com?", "query"),
        ("https://admin:hunter2@monitor.example.com", "user name or password"),
        ("https://monitor.example.com:99999", "invalid port"),
        ("https://monitor.example.com:http", "invalid port"),
        ("https://[::1", "http:// or https:// URL"),
        ("https://monitor.example.com/a b", "without spaces"),
        ("https://monitor.example.com/\x00", "printable"),
        ("https://example.com/" + "a" * 2000, "at most 2000"),
    ],
)
def test_public_url_refusals(raw: str, complaint: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(complaint)) as raised:
        load_settings({"MONITOR_PUBLIC_URL": raw})
    assert "MONITOR_PUBLIC_URL" in str(raised.value)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("raw", ["web-1", "eu-west/app:8080", "Büro 2", "x" * 128])
def test_instance_ids(raw: str) -> None:
    assert load_settings({"MONITOR_INSTANCE_ID": raw}).instance_id == raw


@pytest.mark.parametrize("raw", ["x" * 129, "web\n1", "web\x001", "web\u20281"])
def test_instance_id_refusals(raw: str) -> None:
    with pytest.raises(SettingsError, match="MONITOR_INSTANCE_ID: must be 1 to 128 printable"):
        load_settings({"MONITOR_INSTANCE_ID": raw})


KEY = "k" * 40


@pytest.mark.parametrize("variable", ["MONITOR_SECRET_KEY", "MONITOR_SECRET_KEY_PREVIOUS"])
def test_a_short_secret_key_is_refused_without_being_shown(variable: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({variable: "hunter2-hunter2"})
    message = str(raised.value)
    assert f"{variable}: must be 32 to 1024 characters, got 15" in message
    assert "hunter2" not in message
    assert "secrets.token_urlsafe" in message  # how to make a good one


def test_a_secret_key_with_spaces_or_controls_is_refused() -> None:
    for raw in ("a" * 20 + " " + "b" * 20, "a" * 40 + "\x7f", "ä" * 40):
        with pytest.raises(SettingsError, match="printable ASCII characters without spaces"):
            load_settings({"MONITOR_SECRET_KEY": raw})


def test_secret_keys_are_never_shown() -> None:
    settings = load_settings({"MONITOR_SECRET_KEY": KEY, "MONITOR_SECRET_KEY_PREVIOUS": "p" * 40})
    assert settings.secret_key == KEY
    shown = settings.redacted()
    assert shown["secret_key"] == shown["secret_key_previous"] == "***"
    assert KEY not in repr(settings) and "p" * 40 not in repr(settings)
    assert load_settings({}).redacted()["secret_key"] == ""  # unset stays visibly unset
