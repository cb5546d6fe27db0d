-- Metrics as Prometheus-style series: a metric name has one type; a series is
-- (name, source, labels); samples are (series, time, value), partitioned by day.
create table metrics (
    name        text primary key,
    type        text not null check (type in ('gauge', 'counter', 'histogram')),
    unit        text,
    created_at  timestamptz not null default now()
);

create table series (
    id          integer generated always as identity primary key,
    name        text not null references metrics (name),
    source      text not null default '',
    labels      jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now(),
    -- A deleted series is tombstoned first: ingest paths that still cache its
    -- id notice and re-resolve, and maintenance purges its samples later.
    deleted_at  timestamptz
);
create unique index series_identity on series (name, source, labels) where deleted_at is null;
create index series_name on series (name) where deleted_at is null;

create table samples (
    series_id   integer not null,
    time        timestamptz not null,
    value       double precision not null
) partition by range (time);
create index samples_series_time on samples (series_id, time);
