-- The overview's "events received in the last minute" reads events by
-- received_at, which no index covered: every partition was scanned whole.
-- Each partition is appended to in arrival order (late events for an old day
-- go at that partition's end too), so a BRIN index on received_at narrows a
-- read to the newest block ranges, and costs ingest next to nothing. A
-- partition's last, partly filled range is never summarised and so always
-- read: 16 pages per range keeps that read small in every partition.
create index events_received_at on events
    using brin (received_at) with (pages_per_range = 16, autosummarize = on);
