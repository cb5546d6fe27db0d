"""Times given as query parameters (`from`, `to`): RFC 3339 with a zone, kept in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

# Wide enough for any real query, narrow enough that a default range or a
# bucket computed from the time cannot leave what `datetime` represents.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_query_time(raw: str) -> datetime:
    """The time in UTC; ValueError saying what is wrong with it."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError("must be an RFC 3339 time, e.g. 2026-01-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError("must include a time zone (Z or ±hh:mm)")
    out_of_range = ValueError("must be from 1970-01-01 up to (not including) 9000-01-01")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # before year 1 or after 9999 once in UTC
        raise out_of_range from None
    if not EARLIEST <= moment < LATEST:
        raise out_of_range
    return moment
