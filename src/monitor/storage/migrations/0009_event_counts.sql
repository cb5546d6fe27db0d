-- Event counts per minute and per hour by level, source and type, so that
-- long ranges are answered without scanning raw events. The event-count
-- actor keeps them current after commit; ingest never touches them.
--
-- Which events are counted is decided by commit order, not by a timestamp:
-- each event carries the id of the transaction that inserted it
-- (`ingest_xid`, stamped by a column default), and every event whose
-- ingest_xid is below `event_count_progress.counted_below` is in the counts.
-- A transaction id below a snapshot's xmin belongs to a transaction that has
-- ended, so nothing can still commit behind that mark: not a slow ingest
-- transaction, not another instance with a skewed clock, not an event whose
-- `time` lies days back (late data). Events stored before this migration have
-- no ingest_xid; they are counted here, once.

alter table events add column ingest_xid bigint;
-- xid8 has no BRIN operator class; as bigint it has, and a BRIN index costs
-- ingest next to nothing (transaction ids grow with insertion order). The
-- last, partial block range of each partition stays unsummarized and is read
-- by every search: small ranges keep that read small.
alter table events alter column ingest_xid set default (pg_current_xact_id()::text::bigint);
create index events_ingest_xid on events using brin (ingest_xid)
    with (pages_per_range = 32, autosummarize = on);

-- The same counts at four levels of detail: a question is answered from the
-- smallest table that keeps what it filters or groups by (a week of hours
-- by level is 840 rows, by level, source and type it can be 100 000s).
-- Each is partitioned by resolution, so that a week of hour buckets lies
-- on a few pages rather than scattered between the minutes.
create table event_counts (
    resolution_s integer not null,
    bucket       timestamptz not null,
    level        smallint not null,
    source       text not null,
    type         text not null,
    count        bigint not null check (count > 0),
    primary key (resolution_s, bucket, level, source, type)
) partition by list (resolution_s);
create table event_counts_1m partition of event_counts for values in (60);
create table event_counts_1h partition of event_counts for values in (3600);
-- Filtered by type and grouped by source (or the other way round), a question
-- needs this table; these read only the rows of the chosen types or sources.
create index event_counts_type on event_counts (resolution_s, type, bucket);
create index event_counts_source on event_counts (resolution_s, source, bucket);
create table event_counts_by_source (
    resolution_s integer not null,
    bucket       timestamptz not null,
    level        smallint not null,
    source       text not null,
    count        bigint not null check (count > 0),
    primary key (resolution_s, bucket, level, source)
) partition by list (resolution_s);
create table event_counts_by_source_1m partition of event_counts_by_source for values in (60);
create table event_counts_by_source_1h partition of event_counts_by_source for values in (3600);
create table event_counts_by_type (
    resolution_s integer not null,
    bucket       timestamptz not null,
    level        smallint not null,
    type         text not null,
    count        bigint not null check (count > 0),
    primary key (resolution_s, bucket, level, type)
) partition by list (resolution_s);
create table event_counts_by_type_1m partition of event_counts_by_type for values in (60);
create table event_counts_by_type_1h partition of event_counts_by_type for values in (3600);
create table event_counts_by_level (
    resolution_s integer not null,
    bucket       timestamptz not null,
    level        smallint not null,
    count        bigint not null check (count > 0),
    primary key (resolution_s, bucket, level)
) partition by list (resolution_s);
create table event_counts_by_level_1m partition of event_counts_by_level for values in (60);
create table event_counts_by_level_1h partition of event_counts_by_level for values in (3600);

create table event_count_progress (
    singleton     boolean primary key default true check (singleton),
    counted_below bigint not null
);

create temporary table legacy_counts on commit drop as
select date_bin('60 seconds', time, timestamptz '1970-01-01T00:00:00Z') as bucket,
       level, source, type, count(*) as n
from events
group by 1, 2, 3, 4;

insert into event_counts (resolution_s, bucket, level, source, type, count)
select r.seconds, date_bin(make_interval(secs => r.seconds), bucket,
                           timestamptz '1970-01-01T00:00:00Z'),
       level, source, type, sum(n)
from legacy_counts cross join (values (60), (3600)) as r(seconds)
group by 1, 2, 3, 4, 5;

insert into event_counts_by_source (resolution_s, bucket, level, source, count)
select r.seconds, date_bin(make_interval(secs => r.seconds), bucket,
                           timestamptz '1970-01-01T00:00:00Z'),
       level, source, sum(n)
from legacy_counts cross join (values (60), (3600)) as r(seconds)
group by 1, 2, 3, 4;

insert into event_counts_by_type (resolution_s, bucket, level, type, count)
select r.seconds, date_bin(make_interval(secs => r.seconds), bucket,
                           timestamptz '1970-01-01T00:00:00Z'),
       level, type, sum(n)
from legacy_counts cross join (values (60), (3600)) as r(seconds)
group by 1, 2, 3, 4;

insert into event_counts_by_level (resolution_s, bucket, level, count)
select r.seconds, date_bin(make_interval(secs => r.seconds), bucket,
                           timestamptz '1970-01-01T00:00:00Z'),
       level, sum(n)
from legacy_counts cross join (values (60), (3600)) as r(seconds)
group by 1, 2, 3;

insert into event_count_progress (counted_below)
values (pg_snapshot_xmin(pg_current_snapshot())::text::bigint);
