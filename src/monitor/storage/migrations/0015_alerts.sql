-- Alert rules, their instances and every transition (storage/alert_rules.py,
-- storage/alert_instances.py; docs/alerts.md; decisions 0056 and 0059).
--
-- A rule's `definition` is its canonical document (domain/alert_rules.py
-- `rule_document`); name, kind and enabled are copied out for listing and
-- for the evaluator. `version` counts changes, for If-Match. A deleted rule
-- keeps its row (`deleted_at`), so its instances and transitions keep
-- naming it; its name is free again.
create table alert_rules (
    id          bigint generated always as identity primary key,
    name        text not null check (length(name) between 1 and 200),
    kind        text not null
        check (kind in ('metric_threshold', 'event_count', 'error_group', 'absence')),
    enabled     boolean not null,
    definition  jsonb not null check (jsonb_typeof(definition) = 'object'),
    version     bigint not null default 1 check (version >= 1),
    created_at  timestamptz not null default now(),
    created_by  text not null,
    updated_at  timestamptz not null default now(),
    updated_by  text not null,
    deleted_at  timestamptz
);
create unique index alert_rules_name on alert_rules (lower(name)) where deleted_at is null;

-- One row per instance. A rule has one slot per group (`group_key`, the
-- group's labels as canonical JSON); `sequence` numbers the slot's
-- instances, the highest being the slot's current one. The state columns
-- are domain/alert_states.py's `Instance`.
create table alert_instances (
    id                bigint generated always as identity primary key,
    rule_id           bigint not null references alert_rules (id),
    group_key         text not null check (length(group_key) <= 4096),
    sequence          integer not null check (sequence >= 1),
    labels            jsonb not null,  -- rule labels, group labels, rule, severity
    annotations       jsonb not null default '{}'::jsonb,
    state             text not null
        check (state in ('inactive', 'pending', 'firing', 'resolved', 'no_data', 'error')),
    since             timestamptz not null,
    value             double precision,
    reason            text check (length(reason) <= 2000),
    breach_since      timestamptz,
    cleared_since     timestamptz,
    held              text not null default 'inactive'
        check (held in ('inactive', 'pending', 'firing')),
    acknowledged_by   text,
    acknowledged_at   timestamptz,
    acknowledged_note text check (length(acknowledged_note) <= 2000),
    acknowledged_until timestamptz,
    opened_at         timestamptz not null,
    closed_at         timestamptz,
    unique (rule_id, group_key, sequence)
);
-- The instances list, newest first, filtered by state.
create index alert_instances_state on alert_instances (state, id desc);
create index alert_instances_opened on alert_instances (opened_at desc, id desc);

-- Every state change, in commit order of its id: the notifications' outbox
-- (a cursor over `id`). Written in the transaction that changes the
-- instance's state. `epoch` is the evaluator leader's (decision 0058);
-- null for an operator's action.
create table alert_transitions (
    id           bigint generated always as identity primary key,
    instance_id  bigint not null references alert_instances (id),
    rule_id      bigint not null references alert_rules (id),
    from_state   text not null,
    to_state     text not null,
    at           timestamptz not null,
    value        double precision,
    reason       text not null check (length(reason) <= 2000),
    labels       jsonb not null,
    annotations  jsonb not null default '{}'::jsonb,
    epoch        bigint,
    actor        text
);
create index alert_transitions_instance on alert_transitions (instance_id, id);
create index alert_transitions_rule on alert_transitions (rule_id, id);
create index alert_transitions_at on alert_transitions (at);
