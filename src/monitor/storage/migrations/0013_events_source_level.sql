-- The events list filtered by source and level (with or without type and
-- attributes) read thousands of rows per day partition that the filter then
-- threw away: no index held source and level together (decision 0053).
--
-- A source with an exact or lowest level, in a bitmap AND with the other
-- filters' indexes: the rows of that source at those levels, and only them.
create index events_source_level_time on events (source, level, time desc);

-- A source with a lowest level, newest first: a walk down one source's rows
-- that checks the level in the index (no heap visit for the rows it skips)
-- and stops at the page's end. It still serves a source alone newest first,
-- so it replaces (source, time desc) instead of being one more index to keep
-- up at ingest.
create index events_source_time_level on events (source, time desc, level);

-- Last: DROP INDEX locks out reads too, until the commit. Coming after the
-- builds (which only hold back writes), it holds that lock for a moment.
drop index events_source_time;
