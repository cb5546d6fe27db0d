"""Bucket widths written like `30s`, `5m`, `1h`, `1d`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"(\d{1,6})([smhd])")


def parse_interval(text: str) -> timedelta:
    """Raise ValueError unless `text` is a positive whole number and a unit (s, m, h, d)."""
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError("must look like 30s, 5m, 1h or 1d")
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds <= 0:
        raise ValueError("must be positive")
    return timedelta(seconds=seconds)
