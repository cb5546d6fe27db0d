-- When an error group last came back after being resolved (issue 17's
-- `error_group` rules with condition `regression`). Ingest sets it in the
-- statement that reopens the group (storage/events.py); it stays after the
-- group is resolved again, until the next regression replaces it.
alter table event_groups add column regressed_at timestamptz;
