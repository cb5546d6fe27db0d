-- The delivery log by alert: which notifications told of a rule's or an
-- instance's alerts (GET /api/v1/notifications?rule_id=&instance_id=, and the
-- alerts pages' links to it). The ids come from the message the delivery
-- carries (notifications/snapshot.py: every alert names its rule and
-- instance), kept as jsonb arrays computed by PostgreSQL, so the planner's
-- queueing is unchanged; GIN (jsonb_path_ops) answers `@> '[id]'`.
alter table notification_deliveries
    add column rule_ids jsonb not null
        generated always as (coalesce(jsonb_path_query_array(message, '$.alerts[*].rule_id'), '[]')) stored,
    add column instance_ids jsonb not null
        generated always as (coalesce(jsonb_path_query_array(message, '$.alerts[*].instance_id'), '[]')) stored;
create index notification_deliveries_rules on notification_deliveries
    using gin (rule_ids jsonb_path_ops);
create index notification_deliveries_instances on notification_deliveries
    using gin (instance_ids jsonb_path_ops);
