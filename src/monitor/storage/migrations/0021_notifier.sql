-- The notifier (issue 18; docs/notifications.md "Delivery"): what it has read
-- of the transitions, its groups and their timers, and every delivery with
-- its attempts.
--
-- Reading the outbox by commit order. Transition ids are handed out before
-- commit, so an id below one already read can still appear (an operator's
-- resolve committing after an evaluator cycle). Each transition keeps the id
-- of the transaction that wrote it (`xid`, a column default, as events'
-- `ingest_xid` in 0009); the notifier reads transitions whose `xid` is at or
-- above its mark and below the oldest transaction still running, then moves
-- the mark there: everything below it has committed or never will. Rows
-- written before this migration have no `xid` and are history, not news.
alter table alert_transitions add column xid xid8;
alter table alert_transitions alter column xid set default pg_current_xact_id();
create index alert_transitions_xid on alert_transitions (xid) where xid is not null;

create table notifier_cursor (
    only_row    boolean primary key default true check (only_row),
    read_to     xid8 not null,  -- every transition with a lower xid has been read
    updated_at  timestamptz not null default now()
);
insert into notifier_cursor (read_to) values (pg_current_xact_id());

-- One group per policy and values of its group_by labels
-- (domain/notification_routing.py); its timer state is
-- domain/notification_groups.py's GroupState. `due_at` is when the group
-- next needs looking at (null: nothing to tell), so the notifier reads only
-- groups that are due. `refresh_due_at` is the next re-post of its firing
-- alerts to Alertmanager channels (every minute while any fires).
create table notification_groups (
    id              bigint generated always as identity primary key,
    policy_id       bigint not null references notification_policies (id) on delete cascade,
    group_key       text not null check (length(group_key) <= 8192),  -- canonical JSON
    group_labels    jsonb not null check (jsonb_typeof(group_labels) = 'object'),
    first_seen      timestamptz,
    last_sent       timestamptz,
    told_firing     bigint[] not null default '{}',
    due_at          timestamptz,
    refresh_due_at  timestamptz,
    created_at      timestamptz not null default now(),
    unique (policy_id, group_key)
);
create index notification_groups_due on notification_groups (due_at) where due_at is not null;
create index notification_groups_refresh on notification_groups (refresh_due_at)
    where refresh_due_at is not null;

-- The instances routed to a group. A member leaves once its resolution has
-- been told (or, never told firing, once it resolved).
create table notification_group_members (
    group_id     bigint not null references notification_groups (id) on delete cascade,
    instance_id  bigint not null references alert_instances (id) on delete cascade,
    joined_at    timestamptz not null default now(),
    primary key (group_id, instance_id)
);
create index notification_group_members_instance on notification_group_members (instance_id);

-- One message to one channel. `message` is the group as told (the JSON of
-- notifications/snapshot.py), fixed when the message is made so every retry
-- sends the same thing under the same `idempotency_key`. Any instance may
-- send: a sender claims due rows with FOR UPDATE SKIP LOCKED and holds them
-- until `claimed_until`; a sender that dies leaves the claim to lapse.
create table notification_deliveries (
    id               bigint generated always as identity primary key,
    group_id         bigint references notification_groups (id) on delete set null,
    policy_id        bigint,
    channel_id       bigint not null references notification_channels (id),
    idempotency_key  text not null unique check (length(idempotency_key) <= 200),
    reason           text not null
        check (reason in ('news', 'repeat', 'refresh', 'resolved')),
    status           text not null default 'queued'
        check (status in ('queued', 'delivered', 'failed')),
    message          jsonb not null check (jsonb_typeof(message) = 'object'),
    created_at       timestamptz not null default now(),
    next_attempt_at  timestamptz not null default now(),
    attempts         integer not null default 0 check (attempts >= 0),
    claimed_by       text,
    claimed_until    timestamptz,
    finished_at      timestamptz,
    last_error       text check (length(last_error) <= 2000)
);
create index notification_deliveries_queued on notification_deliveries (next_attempt_at)
    where status = 'queued';
create index notification_deliveries_created on notification_deliveries (created_at desc, id desc);
create index notification_deliveries_channel on notification_deliveries (channel_id, id desc);

-- Every attempt at a delivery: what the delivery log shows.
create table notification_attempts (
    id            bigint generated always as identity primary key,
    delivery_id   bigint not null references notification_deliveries (id) on delete cascade,
    attempt       integer not null check (attempt >= 1),
    started_at    timestamptz not null,
    duration_ms   double precision not null check (duration_ms >= 0),
    outcome       text not null check (outcome in ('delivered', 'retrying', 'failed')),
    status_code   integer,
    error_kind    text check (length(error_kind) <= 100),
    error         text check (length(error) <= 2000),
    response      text check (length(response) <= 2000),
    sent_by       text not null check (length(sent_by) <= 200)
);
create index notification_attempts_delivery on notification_attempts (delivery_id, attempt);
