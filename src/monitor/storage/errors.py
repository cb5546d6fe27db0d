"""Storage failures the rest of the service reacts to, free of psycopg types."""

from __future__ import annotations


class StorageUnavailable(Exception):
    """The database cannot be reached or did not answer in time.

    The web edge answers 503 with `Retry-After`; the pool reconnects by itself
    once the database is back.
    """

    retry_after_seconds = 5


class DataDirBusy(Exception):
    """Another `monitor serve` already owns this data directory."""


class RowsRejected(Exception):
    """PostgreSQL refused the rows themselves (a value out of range, a missing partition).

    Not an outage: retrying the same rows fails the same way.
    """


class QueryRefused(Exception):
    """PostgreSQL cannot compute this answer for the stored data (e.g. numeric overflow)."""
