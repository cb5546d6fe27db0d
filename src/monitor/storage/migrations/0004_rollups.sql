-- Rollups of samples per series and per metric name, at 1 minute and 1 hour.
-- `increase` is the reset-aware increase between consecutive samples inside
-- the bucket; with first/last it lets `rate` be answered exactly from rollups.
create table rollups (
    resolution_s integer not null,
    series_id    integer not null,
    bucket       timestamptz not null,
    count        bigint not null,
    sum          double precision not null,
    min          double precision not null,
    max          double precision not null,
    first        double precision not null,
    first_time   timestamptz not null,
    last         double precision not null,
    last_time    timestamptz not null,
    increase     double precision not null,
    primary key (resolution_s, series_id, bucket)
);
create index rollups_bucket on rollups (resolution_s, bucket);

create table name_rollups (
    resolution_s integer not null,
    name         text not null,
    bucket       timestamptz not null,
    count        bigint not null,
    sum          double precision not null,
    min          double precision not null,
    max          double precision not null,
    last         double precision not null,
    last_time    timestamptz not null,
    primary key (resolution_s, name, bucket)
);

-- Rollups of a resolution are complete for every bucket before `done_until`.
create table rollup_watermarks (
    resolution_s integer primary key,
    done_until   timestamptz not null
);
