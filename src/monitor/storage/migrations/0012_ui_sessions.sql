-- Dashboard sign-in sessions (storage/sessions.py; docs/ui-sessions.md).
--
-- The cookie carries a random 256-bit token, signed; only its SHA-256 is
-- stored, so reading this table gives nobody a usable cookie. `id` names the
-- session elsewhere (an open websocket's credential, the log) without the
-- token. A session belongs to the API key it was signed in with and goes
-- with it: revoking the key deletes its sessions (in the revocation's
-- transaction), deleting the key row cascades. The CSRF token is derived
-- from the token with the secret key, so it needs no column.
create table ui_sessions (
    id             bigint generated always as identity primary key,
    token_sha256   bytea not null unique check (length(token_sha256) = 32),
    key_id         bigint not null references api_keys (id) on delete cascade,
    created_at     timestamptz not null default now(),
    last_seen_at   timestamptz not null default now(),
    expires_at     timestamptz not null,  -- the absolute end: created_at + max age
    user_agent     text check (length(user_agent) <= 256),
    client_address text check (length(client_address) <= 64)
);

create index ui_sessions_key_id on ui_sessions (key_id);
-- Maintenance deletes ended sessions by either end.
create index ui_sessions_expires_at on ui_sessions (expires_at);
create index ui_sessions_last_seen_at on ui_sessions (last_seen_at);
