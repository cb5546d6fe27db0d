-- The `ingest` role: a key that may send events and metrics and read nothing
-- (docs/roles.md). Only the check widens; every existing key keeps its role.
-- api_keys_role_check is the name PostgreSQL gave the column check in 0001.
alter table api_keys
    drop constraint api_keys_role_check,
    add constraint api_keys_role_check
        check (role in ('ingest', 'read', 'write', 'admin'));
