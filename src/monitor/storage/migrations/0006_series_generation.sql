-- Bumped by every series deletion. The ingest actor caches series ids; it
-- reads this number in each commit (one small row) instead of checking every
-- cached id against the tombstones, and empties its cache when it changed.
create table series_generation (
    singleton  boolean primary key default true check (singleton),
    generation bigint not null
);
insert into series_generation (generation) values (0);
