"""Secrets redaction for the audit log, and its page cursors (pure functions, hypothesis)."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.cursors import (
    decode_cursor,
    decode_numbered_cursor,
    encode_cursor,
    encode_numbered_cursor,
)
from monitor.domain.redaction import REDACTED, is_secret_name, redact_secrets

# Secrets are drawn from an alphabet ordinary values never use ('Z' is left out
# of them), so "the secret is nowhere in the output" cannot pass by accident.
SECRET = st.text("Z0123456789", min_size=6, max_size=20).map(lambda text: "Z" + text)
ORDINARY_CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="Z:/@?&=#;")
ORDINARY_TEXT = st.text(ORDINARY_CHARACTERS, max_size=12)
ORDINARY_NAME = ORDINARY_TEXT.filter(lambda name: not is_secret_name(name))
SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ORDINARY_TEXT

SECRET_FIELD_NAMES = st.sampled_from(
    [
        "password",
        "Password",
        "db_password",
        "PASSWD",
        "secret",
        "client-secret",
        "webhookSecret",
        "token",
        "access_token",
        "Refresh-Token",
        "api_key",
        "apiKey",
        "X-API-Key",
        "key",
        "KEY",
        "private_key",
        "authorization",
        "Authorization",
        "credentials",
        "cookie",
        "secret_sha256",
    ]
)


def json_like(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(ORDINARY_NAME, inner, max_size=4)
        ),
        max_leaves=20,
    )


@st.composite
def secret_bearing(draw: st.DrawFn) -> tuple[Any, list[str]]:
    """A JSON-like value hiding secrets in every way the redaction knows, and the secrets."""
    secrets: list[str] = []

    def hidden() -> Any:
        secret = draw(SECRET)
        secrets.append(secret)
        form = draw(st.integers(0, 5))
        if form == 0:  # a secret field's value (plain, or a whole structure)
            value: Any = draw(st.sampled_from([secret, [secret], {"inner": secret}]))
            return {draw(SECRET_FIELD_NAMES): value}
        if form == 1:  # the password of a URL in text
            return f"see https://user:{secret}@hooks.example/path for details"
        if form == 2:  # a user-info-only credential
            return f"https://{secret}@git.example/repo.git"
        if form == 3:  # a secret-named query parameter
            name = draw(st.sampled_from(["token", "api_key", "sig", "Password", "access_token"]))
            return f"https://api.example/v1?region=eu&{name}={secret}#top"
        if form == 4:  # one of this service's API keys, anywhere in text
            token = "mon_abcd1234_" + (secret * 5)[:40]
            return f"Bearer {token} was used"
        # a webhook URL: the path itself is the credential
        return {"webhook_url": f"https://hooks.slack.example/services/{secret}"}

    def tree(depth: int) -> Any:
        kind = draw(st.integers(0, 3 if depth < 3 else 1))
        if kind == 0:
            return hidden()
        if kind == 1:
            return draw(SCALAR)
        if kind == 2:
            return [tree(depth + 1) for _ in range(draw(st.integers(1, 3)))]
        return {draw(ORDINARY_NAME): tree(depth + 1) for _ in range(draw(st.integers(1, 3)))}

    value = {"payload": tree(0)}
    return value, secrets


@given(secret_bearing())
def test_no_secret_survives_redaction_at_any_depth(case: tuple[Any, list[str]]) -> None:
    value, secrets = case
    shown = json.dumps(redact_secrets(value))
    for secret in secrets:
        assert secret not in shown


@given(json_like(SCALAR))
def test_values_without_secrets_are_left_exactly_as_they_were(value: Any) -> None:
    assert redact_secrets(value) == value


@given(secret_bearing())
def test_redacting_twice_is_redacting_once(case: tuple[Any, list[str]]) -> None:
    once = redact_secrets(case[0])
    assert redact_secrets(once) == once


def test_what_stays_readable_after_redaction() -> None:
    shown = redact_secrets(
        {
            "name": "deploy bot",
            "prefix": "abcd1234",
            "password": "hunter2",
            "webhook_secret": None,
            "nested": [{"Token": {"a": 1}}],
            "url": "https://ops:pw@db.example:5432/monitor?sslmode=require&password=pw",
            "webhook_url": "https://hooks.example/services/T0/B0/XYZ?x=1",
            "note": "rotated mon_abcd1234_" + "A" * 40,
        }
    )
    assert shown == {
        "name": "deploy bot",
        "prefix": "abcd1234",
        "password": REDACTED,
        "webhook_secret": None,  # "not set" is worth seeing
        "nested": [{"Token": REDACTED}],
        "url": "https://***@db.example:5432/monitor?sslmode=require&password=***",
        "webhook_url": "https://hooks.example/***?***",
        "note": f"rotated mon_abcd1234_{REDACTED}",
    }


@pytest.mark.parametrize(
    "name", ["id", "name", "prefix", "role", "keys", "monkey", "key_id", "status", "source"]
)
def test_ordinary_field_names_are_not_taken_for_secrets(name: str) -> None:
    assert not is_secret_name(name)


# Cursors of the audit log: (time, id) and a check.

MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(8999, 12, 31), timezones=st.just(UTC)
)
IDS = st.integers(1, 2**63 - 1)


@given(MOMENTS, IDS)
def test_a_numbered_cursor_gives_back_its_position(moment: datetime, item_id: int) -> None:
    assert decode_numbered_cursor(encode_numbered_cursor(moment, item_id)) == (moment, item_id)


@given(st.text(max_size=40))
def test_any_text_is_a_position_this_module_made_or_refused(text: str) -> None:
    try:
        moment, item_id = decode_numbered_cursor(text)
    except ValueError:
        return
    assert encode_numbered_cursor(moment, item_id).rstrip("=") == text.rstrip("=")


@given(MOMENTS, IDS, st.data())
def test_an_edited_cursor_is_refused(moment: datetime, item_id: int, data: st.DataObject) -> None:
    cursor = encode_numbered_cursor(moment, item_id)
    position = data.draw(st.integers(0, len(cursor) - 2), label="position")  # the last is padding
    replacement = data.draw(
        st.sampled_from(string.ascii_letters + string.digits + "-_").filter(
            lambda c: c != cursor[position]
        )
    )
    edited = cursor[:position] + replacement + cursor[position + 1 :]
    with pytest.raises(ValueError):
        decode_numbered_cursor(edited)


def test_an_events_cursor_is_not_an_audit_cursor() -> None:
    import uuid

    events_cursor = encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), uuid.uuid4())
    with pytest.raises(ValueError):
        decode_numbered_cursor(events_cursor)
    audit_cursor = encode_numbered_cursor(datetime(2026, 1, 1, tzinfo=UTC), 5)
    with pytest.raises(ValueError):
        decode_cursor(audit_cursor)
