-- Notification channels (storage/channels.py; docs/notifications.md; decision 0064).
--
-- `settings` is what may be shown (domain/channels.py's canonical JSON, no
-- secret in it); `secrets` is one Fernet token (monitor/secret_box.py)
-- holding the channel's secrets as a JSON object, encrypted with a key
-- derived from MONITOR_SECRET_KEY; `secret_names` lists which secrets are
-- set, so the API can say "set" without opening the token. `version`
-- counts changes, for If-Match. A deleted channel keeps its row
-- (`deleted_at`, its secrets erased) so that what names it later (the
-- delivery log) still can; its name is free again.
create table notification_channels (
    id           bigint generated always as identity primary key,
    name         text not null check (length(name) between 1 and 200),
    kind         text not null
        check (kind in ('webhook', 'slack', 'discord', 'email', 'alertmanager', 'pagerduty')),
    enabled      boolean not null,
    settings     jsonb not null check (jsonb_typeof(settings) = 'object'),
    secret_names text[] not null default '{}',
    secrets      text check (length(secrets) <= 65536),
    version      bigint not null default 1 check (version >= 1),
    created_at   timestamptz not null default now(),
    created_by   text not null,
    updated_at   timestamptz not null default now(),
    updated_by   text not null,
    deleted_at   timestamptz
);
create unique index notification_channels_name
    on notification_channels (lower(name)) where deleted_at is null;
