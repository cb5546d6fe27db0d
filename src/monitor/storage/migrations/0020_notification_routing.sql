-- Where alert notifications go and what mutes them (issue 18; decision 0066):
-- policies (an ordered list plus one default row), silences and inhibition
-- rules. Policies and inhibition rules are stored as their canonical
-- documents (domain/notification_documents.py) with a version, as alert
-- rules are; silences are not changed once made, only expired early.
create table notification_policies (
    id          bigserial primary key,
    is_default  boolean not null default false,
    definition  jsonb not null,
    version     integer not null default 1,
    created_at  timestamptz not null default now(),
    created_by  text not null,
    updated_at  timestamptz not null default now(),
    updated_by  text not null
);
-- Exactly one default policy, made here; it cannot be deleted.
create unique index notification_policies_one_default on notification_policies (is_default)
    where is_default;
insert into notification_policies (is_default, definition, created_by, updated_by)
values (
    true,
    '{"name": "default", "channel_ids": [], "group_by": ["rule"], "group_wait": "30s",
      "group_interval": "5m", "repeat_interval": "4h"}',
    'system', 'system'
);

create table silences (
    id          bigserial primary key,
    matchers    jsonb not null,
    starts_at   timestamptz not null,
    ends_at     timestamptz not null check (ends_at >= starts_at),
    comment     text not null check (length(comment) between 1 and 1000),
    created_at  timestamptz not null default now(),
    created_by  text not null,
    expired_at  timestamptz,  -- expired early by hand (DELETE)
    expired_by  text
);
create index silences_ends_at on silences (ends_at);

create table inhibition_rules (
    id          bigserial primary key,
    definition  jsonb not null,
    version     integer not null default 1,
    created_at  timestamptz not null default now(),
    created_by  text not null,
    updated_at  timestamptz not null default now(),
    updated_by  text not null
);
