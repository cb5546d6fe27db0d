"""Samples as one binary COPY payload for samples(series_id int4, time timestamptz, value float8).

Built from columns in C-level loops (struct over map), because writing rows
one by one through psycopg costs several microseconds of Python per sample.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import repeat

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # no flags, no extension
TRAILER = struct.pack("!h", -1)
_ROW = struct.Struct("!hiiiqid")  # field count, then (length, value) per column
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def microseconds(moment: datetime) -> int:
    """PostgreSQL's timestamptz: microseconds since 2000-01-01 UTC."""
    delta = moment - PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_rows(series_ids: Iterable[int], micros: Iterable[int], values: Iterable[float]) -> bytes:
    """The rows (aligned columns), unframed: join several with `framed`."""
    return b"".join(
        map(_ROW.pack, repeat(3), repeat(4), series_ids, repeat(8), micros, repeat(8), values)
    )


def framed(rows: Iterable[bytes]) -> bytes:
    """Encoded rows as one complete binary COPY payload."""
    return b"".join([SIGNATURE, *rows, TRAILER])


def micros_of(times: Sequence[datetime]) -> list[int]:
    """microseconds() of each time, computed once per distinct value."""
    converted = {moment: microseconds(moment) for moment in set(times)}
    return [converted[moment] for moment in times]
