"""SQL for writing metrics: metric types, series creation under limits, sample COPY.

One call handles a group of requests in one transaction. Each request is
judged on its own (a type conflict or a cardinality breach refuses that
request only); the accepted requests' samples are copied together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg

from monitor.messages import SamplePoint, SeriesKey
from monitor.storage import rollups
from monitor.storage.errors import RowsRejected
from monitor.storage.gateway import Connection, Gateway

SERIES_LOCK_NAMESPACE = 7_236_100  # advisory lock (namespace, hashtext(name)) guards creation
INCREMENT_LOCK_NAMESPACE = 7_236_101


class StaleSeries(Exception):
    """Cached series ids that were deleted meanwhile; the caller re-resolves and retries."""

    def __init__(self, ids: set[int]) -> None:
        super().__init__(f"series deleted meanwhile: {sorted(ids)}")
        self.ids = ids


@dataclass(frozen=True)
class Limits:
    max_series: int
    max_series_per_metric: int


@dataclass
class SampleCommit:
    """What one group commit decided, for the actor to apply and answer."""

    refusals: dict[int, str] = field(default_factory=dict)  # request index → why (422)
    new_series: dict[SeriesKey, int] = field(default_factory=dict)
    metric_types: dict[str, str] = field(default_factory=dict)
    committed_rows: int = 0


def labels_json(key: SeriesKey) -> str:
    return json.dumps(dict(key.labels), sort_keys=True, separators=(",", ":"))


def _metric_types(
    connection: Connection, requests: Sequence[Sequence[SamplePoint]]
) -> dict[str, str]:
    wanted: dict[str, tuple[str, str | None]] = {}
    for samples in requests:
        for sample in samples:
            if sample.key.name not in wanted:
                wanted[sample.key.name] = (sample.type or "gauge", sample.unit)
    names = sorted(wanted)
    connection.execute(
        """
        insert into metrics (name, type, unit)
        select * from unnest(%s::text[], %s::text[], %s::text[]) order by 1
        on conflict (name) do nothing
        """,
        (names, [wanted[n][0] for n in names], [wanted[n][1] for n in names]),
    )
    return {
        str(name): str(kind)
        for name, kind in connection.execute(
            "select name, type from metrics where name = any(%s)", (names,)
        )
    }


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
    requests: Sequence[Sequence[SamplePoint]],
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
    for index, samples in enumerate(requests):
        if index in refusals:
            continue
        wanted = sorted(
            {s.key for s in samples if s.key in missing and s.key not in existing} - planned_set
        )
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


def _check_not_deleted(connection: Connection, ids: set[int]) -> None:
    if not ids:
        return
    dead = {
        int(row[0])
        for row in connection.execute(
            "select id from series where id = any(%s) and deleted_at is not null", (sorted(ids),)
        )
    }
    if dead:
        raise StaleSeries(dead)


def _copy_samples(connection: Connection, rows: list[tuple[int, datetime, float]]) -> None:
    with (
        connection.cursor() as cursor,
        cursor.copy("copy samples (series_id, time, value) from stdin (format binary)") as copy,
    ):
        copy.set_types(["int4", "timestamptz", "float8"])
        for row in rows:
            copy.write_row(row)


async def commit_samples(
    gateway: Gateway,
    requests: Sequence[Sequence[SamplePoint]],
    known: Mapping[SeriesKey, int],
    limits: Limits,
) -> SampleCommit:
    """Judge and store a group of requests in one transaction.

    `known` are cached series ids. Raises StaleSeries when one of them was
    deleted (nothing is stored), RowsRejected or StorageUnavailable.
    """

    def work(connection: Connection) -> SampleCommit:
        result = SampleCommit()
        try:
            # Held until commit: the rollup job cannot advance past these samples unseen.
            rollups.lock_shared(connection)
            result.metric_types = _metric_types(connection, requests)
            for index, samples in enumerate(requests):
                conflict = next(
                    (
                        s
                        for s in samples
                        if s.type is not None and s.type != result.metric_types[s.key.name]
                    ),
                    None,
                )
                if conflict is not None:
                    recorded = result.metric_types[conflict.key.name]
                    result.refusals[index] = (
                        f"metric {conflict.key.name} is a {recorded}; this sample says "
                        f"{conflict.type}"
                    )
            needed = {
                s.key
                for index, samples in enumerate(requests)
                if index not in result.refusals
                for s in samples
                if s.key not in known
            }
            found = _find_series(connection, sorted(needed))
            missing = needed - set(found)
            if missing:
                found.update(_create_series(connection, requests, missing, limits, result.refusals))
            result.new_series = found
            ids = {**known, **found}
            rows: list[tuple[int, datetime, float]] = []
            used_cached: set[int] = set()
            minute_mark = rollups.watermarks(connection).get(rollups.MINUTE)
            late: list[tuple[int, str, datetime]] = []
            for index, samples in enumerate(requests):
                if index in result.refusals:
                    continue
                for sample in samples:
                    series_id = ids[sample.key]
                    if sample.key in known:
                        used_cached.add(series_id)
                    rows.append((series_id, sample.time, sample.value))
                    if minute_mark is not None and sample.time < minute_mark:
                        late.append((series_id, sample.key.name, sample.time))
            _check_not_deleted(connection, used_cached)
            _copy_samples(connection, rows)
            if late:
                rollups.refresh_late(connection, late)
            result.committed_rows = len(rows)
        except (psycopg.DataError, psycopg.IntegrityError) as refused:
            raise RowsRejected(str(refused).strip()) from refused
        return result

    return await gateway.run(work)


async def increment_counter(
    gateway: Gateway, key: SeriesKey, series_id: int | None, by: float, at: datetime, limits: Limits
) -> tuple[int, float]:
    """Store previous value + `by` at `at`, atomically per series; return (series id, value)."""

    def work(connection: Connection) -> tuple[int, float]:
        refusals: dict[int, str] = {}
        types = _metric_types(connection, [[SamplePoint(key, "counter", None, at, 0.0)]])
        if types[key.name] != "counter":
            raise RowsRejected(f"metric {key.name} is a {types[key.name]}, not a counter")
        ids = {key: series_id} if series_id is not None else _find_series(connection, [key])
        if key not in ids or ids[key] is None:
            ids = _create_series(
                connection, [[SamplePoint(key, "counter", None, at, 0.0)]], {key}, limits, refusals
            )
        if refusals:
            raise RowsRejected(refusals[0])
        chosen = ids[key]
        assert chosen is not None
        _check_not_deleted(connection, {chosen} if series_id is not None else set())
        connection.execute(
            "select pg_advisory_xact_lock(%s, %s)", (INCREMENT_LOCK_NAMESPACE, chosen)
        )
        latest = connection.execute(
            "select time, value from samples where series_id = %s "
            "order by time desc, value desc limit 1",
            (chosen,),
        ).fetchone()
        value = (float(latest[1]) if latest else 0.0) + by
        # Keep the new sample the latest even if the clock stepped back.
        moment = at if latest is None or latest[0] < at else latest[0] + timedelta(microseconds=1)
        _copy_samples(connection, [(chosen, moment, value)])
        return chosen, value

    return await gateway.run(work)
