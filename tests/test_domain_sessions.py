"""Session rules: where a sign-in may lead, when a session ends, and the CSRF token's MAC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urljoin, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.sessions import (
    HOME,
    SessionTimes,
    bounded_user_agent,
    due_for_touch,
    ended,
    ends_at,
    origin_of,
    safe_next,
)
from monitor.domain.signing import SecretKeys, mac, mac_matches

SITE = "https://monitor.example/"
NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)
IDLE = timedelta(hours=12)


def lands_on_the_site(location: str) -> bool:
    """Where a browser goes with this Location: tabs and newlines are dropped first, and
    a backslash counts as a slash (WHATWG URL parsing of http(s) URLs)."""
    cleaned = "".join(c for c in location if c not in "\t\n\r").replace("\\", "/")
    return urlsplit(urljoin(SITE, cleaned)).netloc == "monitor.example"


@given(st.text(max_size=60))
def test_next_is_home_or_a_path_that_stays_on_the_site(raw: str) -> None:
    chosen = safe_next(raw)
    assert chosen in (HOME, raw)
    assert lands_on_the_site(chosen)


@given(
    st.sampled_from(["/", "//", "/\\", "\\", "%2f", "%5c", "\t", "http:", "@", ".."]).flatmap(
        lambda head: st.lists(
            st.sampled_from(["/", "\\", "%2F", "%5C", "%09", "evil.com", "@", ":", "\t", "."]),
            max_size=6,
        ).map(lambda rest: head + "".join(rest))
    )
)
def test_next_built_from_separators_never_leaves_the_site(raw: str) -> None:
    chosen = safe_next(raw)
    assert lands_on_the_site(chosen)
    assert lands_on_the_site(unquote(chosen))  # for a proxy that decodes once


def test_next_keeps_ordinary_paths() -> None:
    for path in ("/", "/events", "/events?source=a%20b&x=1", "/metrics#top", "/a/b/../c"):
        assert safe_next(path) == path
    for hostile in ("//evil.com", "https://evil.com", "/\\evil.com", "/%2F%2Fevil.com", None):
        assert safe_next(hostile) == HOME


def times(**changes: object) -> SessionTimes:
    base = {
        "last_seen_at": NOW - timedelta(hours=1),
        "expires_at": NOW + timedelta(days=6),
        "key_revoked_at": None,
        "key_expires_at": None,
    }
    return SessionTimes(**{**base, **changes})


def test_a_session_ends_at_the_first_of_idle_maximum_age_and_its_key() -> None:
    assert ended(times(), IDLE, NOW) is None
    assert ends_at(times(), IDLE) == NOW + timedelta(hours=11)
    assert ended(times(last_seen_at=NOW - IDLE), IDLE, NOW) == "the session was idle too long"
    assert ended(times(expires_at=NOW), IDLE, NOW) == "the session reached its maximum age"
    assert ended(times(key_expires_at=NOW), IDLE, NOW) == "the API key has expired"
    assert ended(times(key_revoked_at=NOW), IDLE, NOW) == "the API key was revoked"
    soon = NOW + timedelta(minutes=5)
    assert ends_at(times(key_expires_at=soon), IDLE) == soon
    assert ends_at(times(expires_at=soon), IDLE) == soon


def test_use_is_recorded_at_most_once_a_minute() -> None:
    assert not due_for_touch(NOW - timedelta(seconds=59), NOW)
    assert due_for_touch(NOW - timedelta(minutes=1), NOW)


def test_origins_are_compared_as_browsers_send_them() -> None:
    assert origin_of("https://Monitor.Example:443/base") == "https://monitor.example"
    assert origin_of("http://monitor.example:8080") == "http://monitor.example:8080"
    assert origin_of("http://[::1]:80") == "http://[::1]"


def test_user_agents_are_bounded_and_printable() -> None:
    assert bounded_user_agent(None) is None
    assert bounded_user_agent("a\x00b" + "c" * 1000) == "a?b" + "c" * 253


@given(st.text(max_size=40), st.text(max_size=40))
def test_a_csrf_mac_is_accepted_for_its_value_only(value: str, other: str) -> None:
    keys = SecretKeys(b"k" * 32, previous=(b"p" * 32,))
    token = mac(keys, "csrf", value)
    assert mac_matches(keys, "csrf", value, token)
    assert mac_matches(SecretKeys(b"n" * 32, previous=(b"k" * 32,)), "csrf", value, token)
    assert not mac_matches(keys, "session", value, token)
    if other != value:
        assert not mac_matches(keys, "csrf", other, token)
