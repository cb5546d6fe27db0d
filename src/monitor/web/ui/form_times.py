"""A filter form's times: `datetime-local` inputs carry no zone, so the pages read them as UTC.

The forms say "(UTC)" beside the field; the API's own time parser then reads
the value with the `Z` added here. Shared by every page with a time-range form.
"""

from __future__ import annotations

import re

from werkzeug.datastructures import MultiDict

TIME_FIELDS = ("from", "to")
# What a datetime-local input sends: a time without a zone.
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?")


def as_utc(args: MultiDict[str, str], *, page_size: int) -> MultiDict[str, str]:
    """The query with zone-less times read as UTC (the form says so) and blanks dropped."""
    adjusted: MultiDict[str, str] = MultiDict()
    for name, value in args.items(multi=True):
        if not value.strip():
            continue
        if name in TIME_FIELDS and LOCAL_TIME.fullmatch(value.strip()):
            value = value.strip() + "Z"
        adjusted.add(name, value)
    if "limit" not in adjusted:
        adjusted["limit"] = str(page_size)
    return adjusted


def shown_time(raw: str) -> str:
    """What a datetime-local input can show for `raw`: a zone-less time, or nothing.

    An API-style time with an offset, or garbage the error message names,
    leaves the field empty.
    """
    local = raw.strip().removesuffix("Z")
    return local if LOCAL_TIME.fullmatch(local) else ""
