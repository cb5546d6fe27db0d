"""SQL for writing metrics: metric types, series creation under limits, sample COPY.

One call handles a group of requests in one transaction. Each request is
judged on its own (a type conflict or a cardinality breach refuses that
request only); the accepted requests' samples are copied together.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from monitor.domain.rows import SampleBatch, SeriesKey
from monitor.storage import rollups
from monitor.storage.errors import RowsRejected
from monitor.storage.gateway import Connection, Gateway
from monitor.storage.sample_copy import encode_rows, framed, micros_of, microseconds

SERIES_LOCK_NAMESPACE = 7_236_100  # advisory lock (namespace, hashtext(name)) guards creation
INCREMENT_LOCK_NAMESPACE = 7_236_101


class StaleSeries(Exception):
    """Series were deleted since the caller's cached ids were resolved.

    Nothing was stored; the caller drops its cached ids, adopts `generation`
    and retries.
    """

    def __init__(self, generation: int) -> None:
        super().__init__(f"series were deleted meanwhile (generation {generation})")
        self.generation = generation


@dataclass(frozen=True)
class Cached:
    """What the ingest actor already knows, so a commit need not ask again."""

    series: Mapping[SeriesKey, int]  # valid as of `generation`
    generation: int | None  # None: nothing cached yet
    types: Mapping[str, str]  # metric name → recorded type (types never change)


@dataclass(frozen=True)
class Limits:
    max_series: int
    max_series_per_metric: int


@dataclass
class SampleCommit:
    """What one group commit decided, for the actor to apply and answer."""

    generation: int = 0  # the series generation the ids below are valid in
    refusals: dict[int, str] = field(default_factory=dict)  # request index → why (422)
    new_series: dict[SeriesKey, int] = field(default_factory=dict)
    metric_types: dict[str, str] = field(default_factory=dict)
    committed_rows: int = 0
    key_ids: dict[int, list[int]] = field(default_factory=dict)  # committed request → its ids


def labels_json(key: SeriesKey) -> str:
    return json.dumps(dict(key.labels), sort_keys=True, separators=(",", ":"))


def _metric_types(
    connection: Connection,
    declared: Iterable[tuple[str, str | None, str | None]],
    known: Mapping[str, str],
) -> dict[str, str]:
    """The recorded type of each declared metric name, recording new names first."""
    wanted: dict[str, tuple[str | None, str | None]] = {}
    types: dict[str, str] = {}
    for name, kind, unit in declared:
        if name in known:
            types[name] = known[name]
        else:  # a new name: the type and unit that any of its samples gives
            given_kind, given_unit = wanted.get(name, (None, None))
            wanted[name] = (given_kind or kind, given_unit or unit)
    if not wanted:
        return types
    names = sorted(wanted)
    connection.execute(
        """
        insert into metrics (name, type, unit)
        select * from unnest(%s::text[], %s::text[], %s::text[]) order by 1
        on conflict (name) do nothing
        """,
        (names, [wanted[n][0] or "gauge" for n in names], [wanted[n][1] for n in names]),
    )
    types.update(
        (str(name), str(kind))
        for name, kind in connection.execute(
            "select name, type from metrics where name = any(%s)", (names,)
        )
    )
    return types


def _begin(connection: Connection, cached_generation: int | None) -> tuple[int, datetime | None]:
    """Start a sample commit: (series generation, minute rollup watermark).

    Takes ROLLUP_LOCK shared first, in its own statement so that what follows
    reads a snapshot taken after any series deletion (which holds it
    exclusively) has committed. Raises StaleSeries when series were deleted
    since the caller's cache was filled.
    """
    rollups.lock_shared(connection)
    row = connection.execute(
        "select (select generation from series_generation), "
        "(select done_until from rollup_watermarks where resolution_s = %s)",
        (rollups.MINUTE,),
    ).fetchone()
    assert row is not None
    generation = int(row[0])
    if cached_generation is not None and generation != cached_generation:
        raise StaleSeries(generation)
    return generation, row[1]


def _find_series(connection: Connection, keys: Sequence[SeriesKey]) -> dict[SeriesKey, int]:
    if not keys:
        return {}
    rows = connection.execute(
        """
        select u.i, s.id
        from unnest(%s::text[], %s::text[], %s::jsonb[])
            with ordinality as u(name, source, labels, i)
        join series s on s.name = u.name and s.source = u.source and s.labels = u.labels
        where s.deleted_at is null
        """,
        ([k.name for k in keys], [k.source for k in keys], [labels_json(k) for k in keys]),
    ).fetchall()
    return {keys[int(i) - 1]: int(series_id) for i, series_id in rows}


def _describe(key: SeriesKey) -> str:
    labels = ", ".join(f"{k}={v!r}" for k, v in key.labels)
    source = f" source={key.source!r}" if key.source else ""
    return f"{key.name}{{{labels}}}{source}"


def _create_series(
    connection: Connection,
    requests: Sequence[Collection[SeriesKey]],
    missing: set[SeriesKey],
    limits: Limits,
    refusals: dict[int, str],
) -> dict[SeriesKey, int]:
    """Create the missing series request by request, refusing requests past a limit."""
    names = sorted({key.name for key in missing})
    for name in names:  # sorted: one lock order for every transaction
        connection.execute(
            "select pg_advisory_xact_lock(%s, hashtext(%s))", (SERIES_LOCK_NAMESPACE, name)
        )
    existing = _find_series(connection, sorted(missing))  # created meanwhile by someone else
    per_metric = {
        str(name): int(count)
        for name, count in connection.execute(
            "select name, count(*) from series where deleted_at is null and name = any(%s) "
            "group by name",
            (names,),
        )
    }
    total_row = connection.execute(
        "select count(*) from series where deleted_at is null"
    ).fetchone()
    total = int(total_row[0]) if total_row else 0
    planned: list[SeriesKey] = []
    planned_set: set[SeriesKey] = set()
    for index, keys in enumerate(requests):
        if index in refusals:
            continue
        wanted = sorted({k for k in keys if k in missing and k not in existing} - planned_set)
        counts = dict(per_metric)
        for key in wanted:
            counts[key.name] = counts.get(key.name, 0) + 1
        over_metric = [k for k in wanted if counts[k.name] > limits.max_series_per_metric]
        if over_metric:
            key = over_metric[0]
            refusals[index] = (
                f"metric {key.name} already has {per_metric.get(key.name, 0)} series, the limit "
                f"(MONITOR_MAX_SERIES_PER_METRIC={limits.max_series_per_metric}); refused new "
                f"series: {', '.join(_describe(k) for k in over_metric[:5])}"
            )
            continue
        if total + len(wanted) > limits.max_series:
            refusals[index] = (
                f"the service holds {total} series, the limit (MONITOR_MAX_SERIES="
                f"{limits.max_series}); refused new series: "
                f"{', '.join(_describe(k) for k in wanted[:5])}"
            )
            continue
        per_metric = counts
        total += len(wanted)
        planned.extend(wanted)
        planned_set.update(wanted)
    if planned:
        connection.execute(
            """
            insert into series (name, source, labels)
            select * from unnest(%s::text[], %s::text[], %s::jsonb[])
            on conflict (name, source, labels) where deleted_at is null do nothing
            """,
            (
                [k.name for k in planned],
                [k.source for k in planned],
                [labels_json(k) for k in planned],
            ),
        )
        existing.update(_find_series(connection, planned))
    return existing


def _copy_samples(connection: Connection, payload: bytes) -> None:
    with (
        connection.cursor() as cursor,
        cursor.copy("copy samples (series_id, time, value) from stdin (format binary)") as copy,
    ):
        copy.write(payload)


def _refusal_for_types(batch: SampleBatch, recorded: Mapping[str, str]) -> str | None:
    for name, kind, _ in batch.declared:
        if kind is not None and kind != recorded[name]:
            return f"metric {name} is a {recorded[name]}; this sample says {kind}"
    return None


async def commit_samples(
    gateway: Gateway,
    batches: Sequence[SampleBatch],
    cached: Cached,
    limits: Limits,
) -> SampleCommit:
    """Judge and store a group of requests' batches in one transaction.

    Raises StaleSeries when series were deleted since `cached` was filled
    (nothing is stored), RowsRejected or StorageUnavailable.
    """
    known = cached.series

    def work(connection: Connection) -> SampleCommit:
        result = SampleCommit()
        try:
            # The shared rollup lock is held until commit: the rollup job cannot
            # advance past these samples unseen, nor a deletion slip in.
            result.generation, minute_mark = _begin(connection, cached.generation)
            result.metric_types = _metric_types(
                connection, {d for batch in batches for d in batch.declared}, cached.types
            )
            for index, batch in enumerate(batches):
                refusal = _refusal_for_types(batch, result.metric_types)
                if refusal is not None:
                    result.refusals[index] = refusal
            needed = {
                key
                for index, batch in enumerate(batches)
                if index not in result.refusals
                for key in batch.keys
                if key not in known
            }
            found = _find_series(connection, sorted(needed))
            missing = needed - set(found)
            if missing:
                found.update(
                    _create_series(
                        connection, [b.keys for b in batches], missing, limits, result.refusals
                    )
                )
            result.new_series = found
            ids = {**known, **found}
            late: list[tuple[int, str, datetime]] = []
            payloads: list[bytes] = []
            for index, batch in enumerate(batches):
                if index in result.refusals:
                    continue
                key_ids = result.key_ids[index] = [ids[key] for key in batch.keys]
                sample_ids = [key_ids[slot] for slot in batch.slots]
                payloads.append(encode_rows(sample_ids, micros_of(batch.times), batch.values))
                result.committed_rows += len(batch)
                if minute_mark is not None and batch.earliest < minute_mark:
                    late.extend(
                        (key_ids[slot], batch.keys[slot].name, time)
                        for slot, time in zip(batch.slots, batch.times, strict=True)
                        if time < minute_mark
                    )
            if payloads:
                _copy_samples(connection, framed(payloads))
            if late:
                rollups.refresh_late(connection, late)
        except (psycopg.DataError, psycopg.IntegrityError) as refused:
            raise RowsRejected(str(refused).strip()) from refused
        return result

    return await gateway.run(work)


async def increment_counter(
    gateway: Gateway,
    key: SeriesKey,
    cached: Cached,
    by: float,
    at: datetime,
    limits: Limits,
) -> tuple[int, float, int]:
    """Store previous value + `by` at `at`, atomically per series.

    Returns (series id, new value, series generation). Raises StaleSeries
    when series were deleted since `cached` was filled.
    """

    def work(connection: Connection) -> tuple[int, float, int]:
        refusals: dict[int, str] = {}
        generation, _ = _begin(connection, cached.generation)
        types = _metric_types(connection, [(key.name, "counter", None)], cached.types)
        if types[key.name] != "counter":
            raise RowsRejected(f"metric {key.name} is a {types[key.name]}, not a counter")
        series_id = cached.series.get(key)
        ids = {key: series_id} if series_id is not None else _find_series(connection, [key])
        if key not in ids:
            ids = _create_series(connection, [[key]], {key}, limits, refusals)
        if refusals:
            raise RowsRejected(refusals[0])
        chosen = ids[key]
        connection.execute(
            "select pg_advisory_xact_lock(%s, %s)", (INCREMENT_LOCK_NAMESPACE, chosen)
        )
        latest = connection.execute(
            "select time, value from samples where series_id = %s "
            "order by time desc, value desc limit 1",
            (chosen,),
        ).fetchone()
        previous = float(latest[1]) if latest else 0.0
        value = previous + by
        if not math.isfinite(value):  # PostgreSQL would store Infinity, JSON cannot carry it
            raise RowsRejected(
                f"adding {by!r} to the counter's value {previous!r} overflows a double; "
                "nothing was stored"
            )
        # Keep the new sample the latest even if the clock stepped back.
        moment = at if latest is None or latest[0] < at else latest[0] + timedelta(microseconds=1)
        _copy_samples(connection, framed([encode_rows([chosen], [microseconds(moment)], [value])]))
        return chosen, value, generation

    return await gateway.run(work)
