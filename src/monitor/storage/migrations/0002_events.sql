-- Events, range-partitioned by day on `time`. Partitions are created by the
-- service (today's and the next days' at start-up and by maintenance, older
-- ones on demand at ingest) and dropped whole when they pass retention.
create extension if not exists pg_trgm;

create table events (
    id           uuid not null,
    time         timestamptz not null,
    received_at  timestamptz not null,
    type         text not null,
    level        smallint not null check (level between 0 and 4),
    source       text not null default '',
    message      text not null default '',
    attributes   jsonb not null default '{}'::jsonb,
    fingerprint  text,
    trace_id     text,
    group_id     bigint
) partition by range (time);

-- Newest-first listing and keyset pagination on (time, id).
create index events_time_id on events (time desc, id desc);
-- Lookup by id (one probe per partition).
create index events_id on events using hash (id);
create index events_type_time on events (type, time desc);
create index events_source_time on events (source, time desc);
create index events_level_time on events (level, time desc);
-- Case-insensitive substring search (`q`).
create index events_message_trgm on events using gin (message gin_trgm_ops);
-- attr.<key>=<value> filters, as containment.
create index events_attributes on events using gin (attributes jsonb_path_ops);
-- Top error groups within a range.
create index events_group_time on events (group_id, time desc) where group_id is not null;

-- Error groups: events at level error or critical sharing a fingerprint.
create table event_groups (
    id           bigint generated always as identity primary key,
    fingerprint  text not null unique,
    type         text not null,
    source       text not null,
    level        smallint not null,
    message      text not null,
    first_seen   timestamptz not null,
    last_seen    timestamptz not null,
    count        bigint not null,
    status       text not null default 'open' check (status in ('open', 'resolved', 'ignored'))
);
create index event_groups_last_seen on event_groups (last_seen desc);
