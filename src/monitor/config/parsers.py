"""Parsers of setting values: text from the environment to a checked value.

Each raises ValueError with a message that completes "invalid setting NAME: ".
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit


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
