"""The notification documents kept whole with a version (storage/versioned_documents.py)."""

from __future__ import annotations

from monitor.storage.versioned_documents import DocumentTable

POLICIES = DocumentTable(
    table="notification_policies",
    resource="notification_policy",
    lock_id=7_236_500,
    max_rows=1000,
    order="(definition ->> 'position')::int, id",
    scope="not is_default",
)
DEFAULT_POLICY = DocumentTable(
    table="notification_policies",
    resource="notification_policy",
    lock_id=7_236_500,
    max_rows=1,
    order="id",
    scope="is_default",
)
INHIBITION_RULES = DocumentTable(
    table="inhibition_rules",
    resource="inhibition_rule",
    lock_id=7_236_501,
    max_rows=1000,
    order="id",
)
