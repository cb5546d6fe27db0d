-- Each rule's latest evaluation, as the leading evaluator last recorded it
-- (storage/alert_runs.py): what the rules list shows as "last evaluated"
-- and "next due". Written with the cycle's instance changes, under the
-- same epoch fence; one row per rule, replaced each time it is evaluated.
create table alert_rule_runs (
    rule_id      bigint primary key references alert_rules (id),
    evaluated_at timestamptz not null,
    next_due_at  timestamptz not null,
    groups       integer not null check (groups >= 0),  -- groups observed
    failed       text check (length(failed) <= 2000),   -- why the read failed, if it did
    epoch        bigint not null
);
