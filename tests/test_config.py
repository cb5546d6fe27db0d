from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from monitor.config import SETTINGS, SettingsError, load_settings
from monitor.config.reference import render
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
