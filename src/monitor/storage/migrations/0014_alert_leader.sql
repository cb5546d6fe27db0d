-- Who evaluates alerts (storage/leadership.py; decision 0058).
--
-- Exactly one instance leads: the one holding a session advisory lock on a
-- connection of its own. Taking the lock bumps `epoch`; every write the
-- leader makes for alerts first checks, inside its own transaction and
-- under FOR SHARE, that the epoch is still its own (a fence), so a leader
-- that lost its lock without noticing yet cannot record anything once a new
-- one took over. `heartbeat_at` is refreshed by the leader on its own
-- connection; any instance reads it to tell that nobody has led for a while.
create table alert_leader (
    id           smallint primary key default 1 check (id = 1),
    epoch        bigint not null default 0 check (epoch >= 0),
    holder       text check (length(holder) <= 256),
    since        timestamptz,
    heartbeat_at timestamptz
);

insert into alert_leader default values;
