-- Rolling up recent minutes reads samples by time across all series; without
-- an index starting with time that scanned the whole day partition under the
-- rollup lock. A BRIN index fits append-mostly time data and costs ingest little.
create index samples_time_brin on samples using brin (time);
