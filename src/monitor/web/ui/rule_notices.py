"""What the rules list and a rule's page say after a change made in the rule editor
(`?saved=<what>` on the address the editor's 303 leads to)."""

from __future__ import annotations

from collections.abc import Mapping

NOTICES = {
    "created": "The rule is created.",
    "saved": "The rule is saved.",
    "enabled": "The rule is enabled.",
    "disabled": "The rule is disabled; its open instances are resolved.",
    "deleted": "The rule is deleted: its open instances are resolved, its history is kept.",
}


def editor_notice(args: Mapping[str, str]) -> str | None:
    return NOTICES.get(args.get("saved", ""))
