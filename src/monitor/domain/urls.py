"""URLs shown to people: connection URLs with their passwords masked."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """Mask the password of a URL, keeping what helps an operator (host, database)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.query:
        query = re.sub(r"(?i)((?:^|&)password=)[^&]*", r"\1***", parts.query)
        parts = parts._replace(query=query)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    return urlunsplit(parts)
