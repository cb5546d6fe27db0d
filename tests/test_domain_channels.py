"""The channel parser (domain/channels.py) and the sealing of secrets (secret_box.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.channels import (
    KEEP,
    ChannelDraft,
    complete_secrets,
    parse_channel,
)
from monitor.domain.rule_fields import RuleProblems
from monitor.domain.signing import SecretKeys
from monitor.secret_box import SecretBox, SecretUnreadable

KEY = b"k" * 40
OLD = b"o" * 40

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = ["name", "kind", "enabled", "description", "send_resolved", "url", "secret", "headers",
          "secret_headers", "host", "port", "security", "username", "password", "from", "to",
          "routing_key", "events_url"]  # fmt: skip


@given(
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=10)
    | json_values
)
def test_anything_is_a_channel_or_named_problems(raw: Any) -> None:
    try:
        draft = parse_channel(raw)
    except RuleProblems as refused:
        assert refused.problems and all(problem.field for problem in refused.problems)
    else:
        assert isinstance(draft, ChannelDraft)


def test_send_resolved_is_on_unless_turned_off_and_only_a_boolean() -> None:
    base = {"name": "am", "kind": "alertmanager", "url": "http://am.example:9093"}
    assert parse_channel(base).settings["send_resolved"] is True
    assert parse_channel(base | {"send_resolved": False}).settings["send_resolved"] is False
    with pytest.raises(RuleProblems) as refused:
        parse_channel(base | {"send_resolved": "no"})
    assert [problem.field for problem in refused.value.problems] == ["send_resolved"]


def test_a_draft_never_shows_its_secrets() -> None:
    draft = parse_channel(
        {"name": "a", "kind": "pagerduty", "routing_key": "very-secret-routing-key"}
    )
    assert "very-secret-routing-key" not in repr(draft)
    assert draft.secrets == {"routing_key": "very-secret-routing-key"}


def test_kept_secrets_come_from_the_stored_ones() -> None:
    draft = parse_channel(
        {
            "name": "a",
            "kind": "webhook",
            "url": "https://example.com/",
            "secret": {"set": True},
            "secret_headers": {"Authorization": "new", "X-Key": {"set": True}},
        }
    )
    assert draft.secrets["secret"] is KEEP
    stored = {"secret": "old-secret-0123456789", "header:X-Key": "k", "header:Gone": "g"}
    assert complete_secrets(draft, stored) == {
        "secret": "old-secret-0123456789",
        "header:Authorization": "new",
        "header:X-Key": "k",
    }
    with pytest.raises(RuleProblems) as unreadable:
        complete_secrets(draft, None, stored_unreadable=True)
    assert {p.field for p in unreadable.value.problems} == {"secret", "secret_headers.X-Key"}
    with pytest.raises(RuleProblems) as missing:
        complete_secrets(draft, {})
    assert {p.field for p in missing.value.problems} == {"secret", "secret_headers.X-Key"}


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=200), max_size=5))
def test_sealed_secrets_open_to_what_was_sealed(values: dict[str, str]) -> None:
    box = SecretBox(SecretKeys(KEY))
    token = box.seal(values)
    assert box.open(token) == values
    for value in values.values():
        if len(value) > 3:
            assert value not in token


def test_a_rotated_key_still_opens_old_secrets_and_a_lost_one_does_not() -> None:
    old = SecretBox(SecretKeys(OLD)).seal({"secret": "s"})
    rotated = SecretBox(SecretKeys(KEY, (OLD,)))
    assert rotated.open(old) == {"secret": "s"}
    with pytest.raises(SecretUnreadable):  # new values are sealed with the current key only
        SecretBox(SecretKeys(OLD)).open(rotated.seal({"a": "b"}))
    with pytest.raises(SecretUnreadable):
        SecretBox(SecretKeys(KEY)).open(old)
    for garbage in ("", "not a token", "gAAAAA" + "x" * 50, "é"):
        with pytest.raises(SecretUnreadable):
            rotated.open(garbage)
    assert "k" * 10 not in repr(rotated)


def test_the_sealing_key_is_not_the_signing_key() -> None:
    """Derived for its own purpose: a token made with the raw secret as a Fernet key
    does not open (nor does one sealed under the session key's derivation)."""
    raw = Fernet(base64.urlsafe_b64encode(KEY[:32])).encrypt(b'{"a":"b"}').decode()
    with pytest.raises(SecretUnreadable):
        SecretBox(SecretKeys(KEY)).open(raw)
