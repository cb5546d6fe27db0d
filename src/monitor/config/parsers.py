"""Parsers of setting values: text from the environment to a checked value.

Each raises ValueError with a message that completes "invalid setting NAME: ".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from monitor.domain.durations import SECOND, format_duration, parse_duration
from monitor.domain.urls import redact_url


def whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def boolean(raw: str) -> bool:
    """`true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), whatever the case."""
    text = raw.strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def duration(low: str, high: str, *, bare_unit: timedelta = SECOND) -> Callable[[str], timedelta]:
    """A duration between `low` and `high` (written like `30s`); a plain number counts
    `bare_unit`s, the unit the setting has always been documented in."""
    least, most = parse_duration(low), parse_duration(high)

    def parse(raw: str) -> timedelta:
        try:
            value = parse_duration(raw, bare_unit=bare_unit)
        except ValueError as problem:
            raise ValueError(f"{problem}, got {raw!r}") from None
        if not least <= value <= most:
            raise ValueError(
                f"must be between {format_duration(least)} and {format_duration(most)}, got {raw!r}"
            )
        return value

    return parse


def host(raw: str) -> str:
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


def path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("must not be empty")
    return Path(raw.strip()).expanduser()


def optional_url(*schemes: str) -> Callable[[str], str | None]:
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


def log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"must be one of debug, info, warning, error, critical, got {raw!r}")
    return level


def redis_prefix(raw: str) -> str:
    prefix = raw.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.:\-]{1,64}", prefix):
        raise ValueError(f"must be 1 to 64 letters, digits or _ . : -, got {raw!r}")
    return prefix


MAX_PUBLIC_URL_LENGTH = 2000


def optional_public_url(raw: str) -> str | None:
    """An http(s) URL without credentials, query or fragment; no trailing slash, so
    that links are the URL followed by a path."""
    text = raw.strip()
    if not text:
        return None
    if len(text) > MAX_PUBLIC_URL_LENGTH or not text.isprintable() or " " in text:
        raise ValueError(
            f"must be an http:// or https:// URL of at most {MAX_PUBLIC_URL_LENGTH} printable "
            "characters without spaces"
        )
    try:
        parts = urlsplit(text)
        shown = redact_url(text)  # never echo a password
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        raise ValueError("must be an http:// or https:// URL") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, got {shown}")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError(f"must not have a query (?) or fragment (#), got {shown}")
    try:
        parts.port  # noqa: B018 (raises for a port that is not a number in range)
    except ValueError:
        raise ValueError(f"has an invalid port, got {shown}") from None
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


MAX_INSTANCE_ID_LENGTH = 128


def optional_instance_id(raw: str) -> str | None:
    text = raw.strip()
    if not text:
        return None
    if len(text) > MAX_INSTANCE_ID_LENGTH or not text.isprintable():
        raise ValueError(f"must be 1 to {MAX_INSTANCE_ID_LENGTH} printable characters, got {raw!r}")
    return text


MIN_SECRET_KEY_LENGTH = 32
MAX_SECRET_KEY_LENGTH = 1024


def optional_secret_key(raw: str) -> str | None:
    """At least 32 printable characters without spaces; never echoed in a message."""
    key = raw.strip()
    if not key:
        return None
    if not MIN_SECRET_KEY_LENGTH <= len(key) <= MAX_SECRET_KEY_LENGTH:
        raise ValueError(
            f"must be {MIN_SECRET_KEY_LENGTH} to {MAX_SECRET_KEY_LENGTH} characters, got "
            f"{len(key)}; generate one with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'"
        )
    if not key.isascii() or not key.isprintable() or " " in key:
        raise ValueError("must be printable ASCII characters without spaces")
    return key
