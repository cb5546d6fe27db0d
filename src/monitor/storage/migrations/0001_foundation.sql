-- API keys: only the SHA-256 of the secret is stored; the prefix finds the row.
create table api_keys (
    id            bigint generated always as identity primary key,
    name          text not null check (length(name) between 1 and 200),
    prefix        text not null unique,
    secret_sha256 bytea not null check (length(secret_sha256) = 32),
    role          text not null check (role in ('read', 'write', 'admin')),
    rate_limit    integer check (rate_limit >= 0),
    created_at    timestamptz not null default now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

-- Who did what to the service's configuration (keys now; rules and channels later).
create table audit_log (
    id         bigint generated always as identity primary key,
    time       timestamptz not null default now(),
    actor      text not null,
    action     text not null,
    target     text not null,
    details    jsonb not null default '{}'::jsonb
);
create index audit_log_time on audit_log (time desc);
