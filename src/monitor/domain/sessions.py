"""Dashboard sessions: when one ends, and where a sign-in may send the browser next.

A session ends at the first of: its idle timeout after it was last seen, its
absolute end (sign-in plus the maximum age), the end of its key (revoked or
expired). `last_seen_at` is written at most once per `TOUCH_INTERVAL`, so the
idle timeout is kept to within that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

TOUCH_INTERVAL = timedelta(minutes=1)
TOKEN_BYTES = 32  # 256 bits of randomness in every session token
MAX_USER_AGENT = 256
MAX_NEXT_LENGTH = 2048
HOME = "/"


def token_hash(token: str) -> bytes:
    """What storage keeps of a session token: its SHA-256, useless as a cookie."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class SessionTimes:
    """The times that decide whether a session still holds."""

    last_seen_at: datetime
    expires_at: datetime  # the absolute end
    key_revoked_at: datetime | None
    key_expires_at: datetime | None


def ends_at(times: SessionTimes, idle_timeout: timedelta) -> datetime:
    """When the session ends if nothing happens (no use, no revocation)."""
    candidates = [times.last_seen_at + idle_timeout, times.expires_at]
    if times.key_expires_at is not None:
        candidates.append(times.key_expires_at)
    return min(candidates)


def ended(times: SessionTimes, idle_timeout: timedelta, now: datetime) -> str | None:
    """Why the session no longer holds at `now`, or None while it does."""
    if times.key_revoked_at is not None:
        return "the API key was revoked"
    if times.key_expires_at is not None and times.key_expires_at <= now:
        return "the API key has expired"
    if times.expires_at <= now:
        return "the session reached its maximum age"
    if times.last_seen_at + idle_timeout <= now:
        return "the session was idle too long"
    return None


def due_for_touch(last_seen_at: datetime, now: datetime) -> bool:
    """Whether to write a new `last_seen_at`: not more often than once per TOUCH_INTERVAL."""
    return now - last_seen_at >= TOUCH_INTERVAL


def bounded_user_agent(user_agent: str | None) -> str | None:
    """The User-Agent as stored for a future session list: printable, at most 256 characters."""
    if not user_agent:
        return None
    shown = "".join(c if c.isprintable() else "?" for c in user_agent[:MAX_USER_AGENT])
    return shown or None


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL, lower case, default port left out: what a
    browser sends as `Origin`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port is None or port == default else f"{scheme}://{host}:{port}"


def safe_next(raw: str | None) -> str:
    """Where to send the browser after signing in: `raw` when it is a path on this
    site, else HOME.

    Only a path that starts with one `/` is taken, made of printable ASCII
    without spaces or backslashes, so that no browser reads it as another
    host: `//evil.com`, `/\\evil.com`, `https://evil.com` and `/<tab>/evil.com`
    (browsers drop tabs and newlines) all fall back to HOME, as does a path
    that says the same once percent-decoded (`/%2F/evil.com`), for a proxy
    that decodes.
    """
    if not raw or len(raw) > MAX_NEXT_LENGTH or not _plain_path(raw):
        return HOME
    decoded = unquote(raw)
    if decoded.startswith(("//", "/\\")) or any(c < " " or c == "\x7f" for c in decoded):
        return HOME
    return raw


def _plain_path(text: str) -> bool:
    if not text.startswith("/") or text.startswith(("//", "/\\")):
        return False
    if not all("!" <= c <= "~" for c in text) or "\\" in text:
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc
