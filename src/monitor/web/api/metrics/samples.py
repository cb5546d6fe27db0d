"""Validated samples as a column-wise SampleBatch, with little Python per sample.

A bulk body of thousands of samples mostly repeats: a handful of metric
names, one timestamp (a scrape), series seen in earlier requests. So checks
run once per distinct value: series keys and their label checks are memoised
across requests (bounded), timestamps are parsed once per distinct string,
types and units are checked once per (name, type, unit). What is left per
sample is a tuple, a dict lookup and a few list appends.

`build_batch` only decides whether a request is valid. When it is not, the
item-by-item `SampleRules.errors` says which items are wrong and why; a test
keeps the two in agreement.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast

import msgspec

from monitor.config import Settings
from monitor.domain.durations import format_duration
from monitor.domain.metrics import MAX_NAME_LENGTH, NAME_PATTERN, labels_problem
from monitor.domain.rows import SampleBatch, SeriesKey
from monitor.web.api.metrics.schemas import SampleIn, SampleWire

Identity = tuple[str, str, bytes]  # (name, source, labels as sent, raw JSON)
_TIMES = list[Annotated[datetime, msgspec.Meta(tz=True)]]
_decode_labels = msgspec.json.Decoder(dict[str, str]).decode
SMALLEST_NORMAL = sys.float_info.min
_NAME = re.compile(NAME_PATTERN)
MAX_SOURCE_LENGTH = 200
MAX_UNIT_LENGTH = 50


def series_key(name: str, source: str, labels: Mapping[str, str]) -> SeriesKey:
    return SeriesKey(name, source, tuple(sorted(labels.items())))


@dataclass(frozen=True)
class TimeWindow:
    """The sample times a request may carry, fixed at the moment it arrived."""

    now: datetime
    earliest: datetime  # older samples are past raw retention
    latest: datetime  # newer samples are too far in the future
    retention: timedelta

    @classmethod
    def at(cls, now: datetime, settings: Settings) -> TimeWindow:
        return cls(
            now=now,
            earliest=now - settings.metrics_retention,
            latest=now + settings.events_max_future_skew,
            retention=settings.metrics_retention,
        )


def _valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and _NAME.fullmatch(name) is not None


def _series_key(identity: Identity) -> SeriesKey | None:
    """The series an identity names, or None if its name, source or labels are invalid."""
    name, source, raw_labels = identity
    if not _valid_name(name) or len(source) > MAX_SOURCE_LENGTH or "\x00" in source:
        return None
    try:
        labels = _decode_labels(raw_labels)
    except msgspec.DecodeError:
        return None
    if labels_problem(labels) is not None:
        return None
    return series_key(name, source, labels)


class SeriesKeys:
    """Memo of valid identity → SeriesKey.

    Bounded: emptied when full, which costs only the re-checks of the next
    requests.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._keys: dict[Identity, SeriesKey] = {}
        self._capacity = capacity
        self.known = self._keys.get  # identity → key, or None when not (yet) known

    def key_for(self, identity: Identity) -> SeriesKey | None:
        """Check an identity not known yet; its key, or None if it is invalid."""
        key = _series_key(identity)
        if key is not None:
            if len(self._keys) >= self._capacity:
                self._keys.clear()
            self._keys[identity] = key
        return key


def _plain_numbers(values: list[float]) -> bool:
    """All finite, none subnormal (PostgreSQL refuses arithmetic that underflows)."""
    try:
        if not math.isfinite(math.fsum(values)):
            return False
    except OverflowError:  # the sum overflows: look at the values one by one
        if not all(map(math.isfinite, values)):
            return False
    except ValueError:  # inf + -inf
        return False
    tiny = [v for v in values if -SMALLEST_NORMAL < v < SMALLEST_NORMAL]
    return not any(tiny)


def _valid_declarations(declared: Iterable[tuple[str, str | None, str | None]]) -> bool:
    return all(
        unit is None or (0 < len(unit) <= MAX_UNIT_LENGTH and "\x00" not in unit)
        for _, _, unit in declared
    )


def _parse_times(
    distinct: set[str | None], window: TimeWindow
) -> dict[str | None, datetime] | None:
    """Each distinct time string → UTC datetime (None → now), or None if one is invalid."""
    strings = [text for text in distinct if text is not None]
    try:
        parsed = msgspec.convert(strings, _TIMES)
    except msgspec.ValidationError:
        return None
    times: dict[str | None, datetime] = {
        text: moment.astimezone(UTC) for text, moment in zip(strings, parsed, strict=True)
    }
    if None in distinct:
        times[None] = window.now
    if min(times.values()) < window.earliest or max(times.values()) > window.latest:
        return None
    return times


def build_batch(
    samples: Sequence[SampleWire], window: TimeWindow, memo: SeriesKeys
) -> SampleBatch | None:
    """The samples as a SampleBatch, or None if any of them is invalid.

    Column by column, so that the loops over samples run in C (comprehensions,
    zip, map); Python code runs once per distinct series, name and time.
    """
    values = [s.value for s in samples]
    if not _plain_numbers(values):
        return None
    names = [s.name for s in samples]
    declared = set(zip(names, [s.type for s in samples], [s.unit for s in samples], strict=True))
    if not _valid_declarations(declared):
        return None
    texts = [s.time for s in samples]
    parsed = _parse_times(set(texts), window)
    if parsed is None:
        return None
    identities = list(
        zip(names, [s.source for s in samples], [bytes(s.labels) for s in samples], strict=True)
    )
    # One slot per distinct identity, in order of first appearance. (The same
    # series sent with its labels in two orders gets two slots; harmless.)
    distinct = list(dict.fromkeys(identities))
    keys = list(map(memo.known, distinct))
    if None in keys:
        for slot, identity in enumerate(distinct):
            if keys[slot] is None:
                key = memo.key_for(identity)
                if key is None:
                    return None
                keys[slot] = key
    if len(distinct) == len(identities):  # the usual scrape: each series once
        slots = list(range(len(identities)))
    else:
        slot_of = dict(zip(distinct, range(len(distinct)), strict=True))
        slots = list(map(slot_of.__getitem__, identities))
    moments = parsed.values()
    return SampleBatch(
        keys=cast(list[SeriesKey], keys),
        declared=sorted(declared, key=lambda d: (d[0], d[1] or "", d[2] or "")),
        slots=slots,
        times=list(map(parsed.__getitem__, texts)),
        values=values,
        earliest=min(moments),
        latest=max(moments),
    )


class SampleRules:
    """Every rule a sample must follow, item by item, with field-level messages."""

    def __init__(self, window: TimeWindow) -> None:
        self.window = window

    def errors(self, index: int | None, sample: SampleIn) -> list[dict[str, Any]]:
        where = {} if index is None else {"index": index}
        errors: list[dict[str, Any]] = []
        value = sample.value
        if not math.isfinite(value):
            errors.append({**where, "field": "value", "message": "must be a finite number"})
        elif value != 0 and abs(value) < SMALLEST_NORMAL:
            errors.append(
                {**where, "field": "value", "message": "is too close to zero (subnormal)"}
            )
        problem = labels_problem(sample.labels)
        if problem is not None:
            errors.append({**where, "field": "labels", "message": problem})
        for field, text in (("source", sample.source), ("unit", sample.unit)):
            if text is not None and "\x00" in text:
                errors.append({**where, "field": field, "message": "must not contain NUL"})
        if sample.time is not None:
            if sample.time > self.window.latest:
                errors.append({**where, "field": "time", "message": "is too far in the future"})
            elif sample.time < self.window.earliest:
                retention = format_duration(self.window.retention)
                errors.append(
                    {
                        **where,
                        "field": "time",
                        "message": f"is older than the {retention} retention",
                    }
                )
        return errors
