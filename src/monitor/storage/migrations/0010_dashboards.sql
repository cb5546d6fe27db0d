-- Dashboards and their widgets (storage/dashboards.py; docs/dashboard-api.md).
-- `version` counts changes, for If-Match: a dashboard's counts changes to it
-- and to its widgets, a widget's its own.
create table dashboards (
    id          bigint generated always as identity primary key,
    name        text not null check (length(name) between 1 and 200),
    description text not null default '' check (length(description) <= 2000),
    is_default  boolean not null default false,
    version     bigint not null default 1 check (version >= 1),
    created_at  timestamptz not null default now(),
    created_by  text not null,
    updated_at  timestamptz not null default now(),
    updated_by  text not null
);
-- Names are unique whatever their case; at most one dashboard is the default
-- (storage refuses to leave none: it cannot be unset or deleted, only moved).
create unique index dashboards_name on dashboards (lower(name));
create unique index dashboards_one_default on dashboards (is_default) where is_default;

-- A widget's place on its dashboard's 12-column grid: columns x .. x+w-1,
-- rows y .. y+h-1 (overlaps are refused by storage, which sees all of them).
create table widgets (
    id           bigint generated always as identity primary key,
    dashboard_id bigint not null references dashboards (id) on delete cascade,
    title        text not null check (length(title) between 1 and 200),
    kind         text not null
        check (kind in ('timeseries', 'stat', 'top', 'heatmap', 'events', 'gauge')),
    query        jsonb not null default '{}'::jsonb check (jsonb_typeof(query) = 'object'),
    options      jsonb not null default '{}'::jsonb check (jsonb_typeof(options) = 'object'),
    x            integer not null check (x >= 0),
    y            integer not null check (y >= 0),
    w            integer not null check (w >= 1),
    h            integer not null check (h between 1 and 100),
    version      bigint not null default 1 check (version >= 1),
    created_at   timestamptz not null default now(),
    created_by   text not null,
    updated_at   timestamptz not null default now(),
    updated_by   text not null,
    constraint widgets_within_columns check (x + w <= 12),
    constraint widgets_within_rows check (y + h <= 10000)
);
create index widgets_dashboard on widgets (dashboard_id, y, x);

-- A fresh install's default dashboard. Made here, not at start-up: a
-- migration runs exactly once, whichever instance applies it. Its queries
-- are the parameters of the dashboard routes that draw them (the table in
-- domain/widget_queries.py).
with board as (
    insert into dashboards (name, description, is_default, created_by, updated_by)
    values (
        'Overview',
        'Created at installation: events by level, errors, top errors and ingest. Edit freely.',
        true,
        'system',
        'system'
    )
    returning id
)
insert into widgets (dashboard_id, title, kind, query, options, x, y, w, h, created_by, updated_by)
select board.id, w.title, w.kind, w.query::jsonb, w.options::jsonb, w.x, w.y, w.w, w.h,
       'system', 'system'
from board, (values
    ('Event rate by level', 'timeseries',
     '{"kind": "events", "group_by": "level", "range": "24h"}',
     '{"unit": "events", "stacked": true}', 0, 0, 8, 4),
    ('Ingest rate', 'stat',
     '{"kind": "overview", "range": "24h"}',
     '{"field": "ingest.events_per_second", "unit": "events/s"}', 8, 0, 4, 4),
    ('Error rate', 'timeseries',
     '{"kind": "events", "level": ["error", "critical"], "range": "24h"}',
     '{"unit": "events", "colour": "#d64545"}', 0, 4, 6, 4),
    ('Top errors', 'top',
     '{"type": "errors", "range": "24h"}',
     '{}', 6, 4, 6, 4)
) as w (title, kind, query, options, x, y, w, h);
