-- The audit log as every change writes it (storage/audit.py record_change):
-- who (actor kind, name and key prefix), what (resource, id, action, before and
-- after with secrets redacted) and from where (client address, request id).
alter table audit_log
    add column actor_kind     text,
    add column actor_name     text,
    add column actor_prefix   text,
    add column resource       text,
    add column resource_id    text,
    add column before         jsonb,
    add column after          jsonb,
    add column client_address text,
    add column request_id     text;

-- Rows written before this migration had: actor 'key:<id>:<prefix>', 'cli',
-- 'system' or a tool's name; target 'api_key:<id>:<prefix>'; action
-- 'key.create' (details: the key's name and role) or 'key.revoke' (no details).
update audit_log a set
    actor_kind = case
        when a.actor like 'key:%' then 'key'
        when a.actor = 'cli' then 'cli'
        else 'system'
    end,
    actor_prefix = case when a.actor like 'key:%' then nullif(split_part(a.actor, ':', 3), '') end,
    actor_name = case
        when a.actor like 'key:%' then
            (select k.name from api_keys k where k.prefix = split_part(a.actor, ':', 3))
        when a.actor in ('cli', 'system') then null
        else a.actor
    end,
    resource = case
        when a.target like 'api_key:%' then 'api_key'
        else coalesce(nullif(split_part(a.target, ':', 1), ''), 'unknown')
    end,
    resource_id = case
        when a.target like '%:%' then split_part(a.target, ':', 2)
        else a.target
    end,
    action = case a.action
        when 'key.create' then 'create'
        when 'key.revoke' then 'revoke'
        else a.action
    end,
    after = case
        when a.target ~ '^api_key:[0-9]{1,18}:' then
            jsonb_build_object(
                'id', split_part(a.target, ':', 2)::bigint,
                'prefix', split_part(a.target, ':', 3)
            ) || a.details
        else nullif(a.details, '{}'::jsonb)
    end;

alter table audit_log
    alter column actor_kind set not null,
    alter column resource set not null,
    alter column resource_id set not null,
    add constraint audit_log_actor_kind check (actor_kind in ('key', 'cli', 'system', 'session')),
    drop column actor,
    drop column target,
    drop column details;

-- Pages are read newest first by (time, id); each filter has an index in that order.
drop index audit_log_time;
create index audit_log_time_id on audit_log (time desc, id desc);
create index audit_log_resource on audit_log (resource, time desc, id desc);
create index audit_log_actor_name on audit_log (actor_name, time desc, id desc);
create index audit_log_actor_prefix on audit_log (actor_prefix, time desc, id desc);
