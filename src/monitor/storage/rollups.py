"""Rollups: 1-minute and 1-hour summaries of samples, per series and per metric name.

Rollups of a resolution are complete before its watermark. The rollup job
advances the watermarks holding ROLLUP_LOCK exclusively; every sample commit
holds it shared, and refreshes the rollups of buckets before the watermark
that its samples fall in (late samples). So a rollup bucket always equals
what the raw samples say.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from monitor.storage.gateway import Connection, Gateway

MINUTE = 60
HOUR = 3600
RESOLUTIONS = (MINUTE, HOUR)
ROLLUP_LOCK = 7_236_200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# One run rolls at most this much, so a backlog (first start, a long outage)
# is caught up in short steps that each release ROLLUP_LOCK quickly.
MAX_STEP = timedelta(hours=1)
ROLLUP_STATEMENT_TIMEOUT = "120s"

_SERIES_FROM_RAW = """
insert into rollups
    (resolution_s, series_id, bucket, count, sum, min, max,
     first, first_time, last, last_time, increase)
select 60, series_id, bucket, count(*), sum(value), min(value), max(value),
       (array_agg(value order by time, value))[1], min(time),
       (array_agg(value order by time desc, value desc))[1], max(time),
       coalesce(sum(case when value >= previous then value - previous else value end)
                filter (where previous is not null), 0)
from (
    select series_id, time, value,
           date_bin('60 seconds', time, timestamptz '1970-01-01T00:00:00Z') as bucket,
           lag(value) over (
               partition by series_id,
                            date_bin('60 seconds', time, timestamptz '1970-01-01T00:00:00Z')
               order by time, value
           ) as previous
    from samples
    where time >= %(start)s and time < %(end)s {series_filter}
) raw
group by series_id, bucket
on conflict (resolution_s, series_id, bucket) do update set
    count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
    first = excluded.first, first_time = excluded.first_time,
    last = excluded.last, last_time = excluded.last_time, increase = excluded.increase
"""

_SERIES_HOURS_FROM_MINUTES = """
insert into rollups
    (resolution_s, series_id, bucket, count, sum, min, max,
     first, first_time, last, last_time, increase)
select 3600, series_id, hour, sum(count), sum(sum), min(min), max(max),
       (array_agg(first order by first_time, first))[1], min(first_time),
       (array_agg(last order by last_time desc, last desc))[1], max(last_time),
       sum(increase) + coalesce(sum(case when first >= previous_last then first - previous_last
                                         else first end)
                                filter (where previous_last is not null), 0)
from (
    select *, date_bin('3600 seconds', bucket, timestamptz '1970-01-01T00:00:00Z') as hour,
           lag(last) over (
               partition by series_id,
                            date_bin('3600 seconds', bucket, timestamptz '1970-01-01T00:00:00Z')
               order by bucket
           ) as previous_last
    from rollups
    where resolution_s = 60 and bucket >= %(start)s and bucket < %(end)s {series_filter}
) minutes
group by series_id, hour
on conflict (resolution_s, series_id, bucket) do update set
    count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
    first = excluded.first, first_time = excluded.first_time,
    last = excluded.last, last_time = excluded.last_time, increase = excluded.increase
"""

_NAMES_FROM_SERIES = """
insert into name_rollups (resolution_s, name, bucket, count, sum, min, max, last, last_time)
select r.resolution_s, s.name, r.bucket, sum(r.count), sum(r.sum), min(r.min), max(r.max),
       (array_agg(r.last order by r.last_time desc, r.last desc))[1], max(r.last_time)
from rollups r join series s on s.id = r.series_id and s.deleted_at is null
where r.resolution_s = %(resolution)s and r.bucket >= %(start)s and r.bucket < %(end)s
      {name_filter}
group by r.resolution_s, s.name, r.bucket
on conflict (resolution_s, name, bucket) do update set
    count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
    last = excluded.last, last_time = excluded.last_time
"""


def floor_to(moment: datetime, seconds: int) -> datetime:
    elapsed = (moment - EPOCH) // timedelta(seconds=seconds)
    return EPOCH + timedelta(seconds=elapsed * seconds)


def ceil_to(moment: datetime, seconds: int) -> datetime:
    floor = floor_to(moment, seconds)
    return floor if floor == moment else floor + timedelta(seconds=seconds)


def watermarks(connection: Connection) -> dict[int, datetime]:
    return {
        int(resolution): done_until
        for resolution, done_until in connection.execute(
            "select resolution_s, done_until from rollup_watermarks"
        )
    }


def _roll(
    connection: Connection,
    start: datetime,
    end: datetime,
    series_ids: list[int] | None,
    names: list[str] | None,
) -> None:
    """Recompute every rollup of [start, end) (whole hours), optionally for some series only."""
    series_filter = "and series_id = any(%(series)s)" if series_ids is not None else ""
    name_filter = "and s.name = any(%(names)s)" if names is not None else ""
    params = {"start": start, "end": end, "series": series_ids, "names": names}
    if series_ids is not None:
        # Buckets of these series that lost all their samples (deleted) must go.
        connection.execute(
            "delete from rollups where series_id = any(%(series)s) "
            "and bucket >= %(start)s and bucket < %(end)s",
            params,
        )
    connection.execute(_SERIES_FROM_RAW.format(series_filter=series_filter), params)
    connection.execute(_SERIES_HOURS_FROM_MINUTES.format(series_filter=series_filter), params)
    if names is not None:
        connection.execute(
            "delete from name_rollups where name = any(%(names)s) "
            "and bucket >= %(start)s and bucket < %(end)s",
            params,
        )
    for resolution in RESOLUTIONS:
        connection.execute(
            _NAMES_FROM_SERIES.format(name_filter=name_filter),
            {**params, "resolution": resolution},
        )


def refresh_late(connection: Connection, late: Iterable[tuple[int, str, datetime]]) -> None:
    """Recompute the rollups that late samples (series id, name, time) fall into."""
    by_hour: dict[datetime, tuple[set[int], set[str]]] = {}
    for series_id, name, moment in late:
        ids, names = by_hour.setdefault(floor_to(moment, HOUR), (set(), set()))
        ids.add(series_id)
        names.add(name)
    for hour, (ids, names) in sorted(by_hour.items()):
        _roll(connection, hour, hour + timedelta(hours=1), sorted(ids), sorted(names))


def lock_shared(connection: Connection) -> None:
    connection.execute("select pg_advisory_xact_lock_shared(%s)", (ROLLUP_LOCK,))


def lock_exclusive(connection: Connection) -> None:
    connection.execute("select pg_advisory_xact_lock(%s)", (ROLLUP_LOCK,))


async def roll_up(gateway: Gateway, now: datetime, settle: timedelta) -> datetime | None:
    """Roll up to MAX_STEP of complete minutes (older than `settle`); return the watermark.

    Hours are rolled as they complete; the first run starts at the oldest
    sample. Call again while the watermark trails `now - settle`.
    """

    def work(connection: Connection) -> datetime | None:
        connection.execute(f"set local statement_timeout = '{ROLLUP_STATEMENT_TIMEOUT}'")
        lock_exclusive(connection)
        marks = watermarks(connection)
        target = floor_to(now - settle, MINUTE)
        start = marks.get(MINUTE)
        if start is None:
            oldest = connection.execute("select min(time) from samples").fetchone()
            start = floor_to(oldest[0], HOUR) if oldest and oldest[0] else floor_to(target, HOUR)
        target = min(target, start + MAX_STEP)
        if target <= start:
            return start
        # Whole hours from the start of the current watermark's hour: the hour
        # rollups of the (partly) new hours are recomputed from their minutes.
        hour_start = floor_to(start, HOUR)
        _roll_range(connection, hour_start, start, target)
        connection.execute(
            """
            insert into rollup_watermarks (resolution_s, done_until)
            values (60, %(m)s), (3600, %(h)s)
            on conflict (resolution_s) do update set done_until = excluded.done_until
            """,
            {"m": target, "h": floor_to(target, HOUR)},
        )
        return target

    return await gateway.run(work)


def _roll_range(
    connection: Connection, hour_start: datetime, start: datetime, end: datetime
) -> None:
    params = {"start": start, "end": end, "series": None, "names": None}
    connection.execute(_SERIES_FROM_RAW.format(series_filter=""), params)
    hours = {"start": hour_start, "end": floor_to(end, HOUR) + timedelta(hours=1)}
    connection.execute(_SERIES_HOURS_FROM_MINUTES.format(series_filter=""), {**params, **hours})
    connection.execute(_NAMES_FROM_SERIES.format(name_filter=""), {**params, "resolution": MINUTE})
    connection.execute(
        _NAMES_FROM_SERIES.format(name_filter=""), {**params, **hours, "resolution": HOUR}
    )


def forget_series(connection: Connection, series_id: int, name: str) -> None:
    """After a series is deleted: drop its rollups and recompute its name's."""
    connection.execute("delete from rollups where series_id = %s", (series_id,))
    connection.execute("delete from name_rollups where name = %s", (name,))
    for resolution in RESOLUTIONS:
        connection.execute(
            _NAMES_FROM_SERIES.format(name_filter="and s.name = any(%(names)s)"),
            {
                "resolution": resolution,
                "start": EPOCH,
                "end": datetime(9999, 1, 1, tzinfo=UTC),
                "names": [name],
            },
        )


async def drop_expired(gateway: Gateway, now: datetime, retention: dict[int, timedelta]) -> None:
    """Delete rollups older than their resolution's retention."""

    def work(connection: Connection) -> None:
        for resolution, keep in retention.items():
            cutoff = now - keep
            connection.execute(
                "delete from rollups where resolution_s = %s and bucket < %s", (resolution, cutoff)
            )
            connection.execute(
                "delete from name_rollups where resolution_s = %s and bucket < %s",
                (resolution, cutoff),
            )

    await gateway.run(work)
