"""The events page's filter form: from the form's fields to the API's query, and back.

The page's URL holds the API's own parameters (type, level, min_level,
source, from, to, q, limit, cursor), read by the API's parser. Two things
a plain form cannot write are translated here: `datetime-local` times
(zone-less, read as UTC, see form_times) and attributes, which the API
takes as `attr.<key>=<value>` (one parameter name per key) and the form as
repeated `attr` fields of `key=value`. A URL with `attr.<key>` works too.

`live_filter` says which events the live tail may show: the websocket's
subscription narrows the stream as far as its filter can (one type, one
source, a lowest level), and the page's script checks the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from monitor.domain.events import LEVELS, EventFilter, attribute_match_candidates
from monitor.web.ui import form_times

FORM_ATTRIBUTE = "attr"
ATTRIBUTE_PREFIX = "attr."


@dataclass(frozen=True)
class ShownFilters:
    """The form's fields as the page shows them back."""

    type: str
    levels: frozenset[str]
    min_level: str
    source: str
    time_from: str
    time_to: str
    text: str
    attributes: tuple[str, ...]  # "key=value", one input each

    @property
    def any(self) -> bool:
        fields = (self.type, self.levels, self.min_level, self.source, self.text)
        return any(fields) or any((self.time_from, self.time_to, self.attributes))


def api_query(
    args: MultiDict[str, str], *, page_size: int
) -> tuple[MultiDict[str, str], list[dict[str, Any]]]:
    """The API's query for the form's `args`, and what could not be translated."""
    errors: list[dict[str, Any]] = []
    translated: MultiDict[str, str] = MultiDict()
    for name, value in args.items(multi=True):
        if name != FORM_ATTRIBUTE:
            translated.add(name, value)
            continue
        if not value.strip():
            continue
        key, equals, wanted = value.partition("=")
        if not equals or not key.strip():
            errors.append({"field": FORM_ATTRIBUTE, "message": "must be written key=value"})
            continue
        translated.add(ATTRIBUTE_PREFIX + key.strip(), wanted.strip())
    return form_times.as_utc(translated, page_size=page_size), errors


def shown_filters(args: MultiDict[str, str]) -> ShownFilters:
    attributes = [value for value in args.getlist(FORM_ATTRIBUTE) if value.strip()]
    attributes += [
        f"{name[len(ATTRIBUTE_PREFIX) :]}={value}"
        for name, value in args.items(multi=True)
        if name.startswith(ATTRIBUTE_PREFIX)
    ]
    levels = {part.strip().lower() for value in args.getlist("level") for part in value.split(",")}
    return ShownFilters(
        type=args.get("type", ""),
        levels=frozenset(levels & set(LEVELS)),
        min_level=args.get("min_level", "").lower(),
        source=args.get("source", ""),
        time_from=form_times.shown_time(args.get("from", "")),
        time_to=form_times.shown_time(args.get("to", "")),
        text=args.get("q", ""),
        attributes=tuple(attributes),
    )


def lowest_level(event_filter: EventFilter) -> int | None:
    """The lowest level an event may have and still match (None: any)."""
    floors = [event_filter.min_level] if event_filter.min_level is not None else []
    if event_filter.levels:
        floors.append(min(event_filter.levels))
    return max(floors) if floors else None


def live_filter(event_filter: EventFilter) -> dict[str, Any]:
    """What the page's script subscribes with, and what it checks on each event itself."""
    subscribe: dict[str, Any] = {}
    if len(event_filter.types) == 1:
        subscribe["type"] = event_filter.types[0]
    if len(event_filter.sources) == 1:
        subscribe["source"] = event_filter.sources[0]
    floor = lowest_level(event_filter)
    if floor is not None:
        subscribe["min_level"] = LEVELS[floor]
    return {
        "subscribe": subscribe,
        "match": {
            "types": list(event_filter.types),
            "levels": [LEVELS[level] for level in event_filter.levels],
            "min_level": None if floor is None else LEVELS[floor],
            "sources": list(event_filter.sources),
            "from": event_filter.time_from.isoformat() if event_filter.time_from else None,
            "to": event_filter.time_to.isoformat() if event_filter.time_to else None,
            # The API matches `q` with ILIKE: case-insensitive, anywhere in the message.
            "text": event_filter.text.lower() if event_filter.text else None,
            # As the API's containment: the attribute's JSON value is one of these.
            "attributes": [
                [key, attribute_match_candidates(value)] for key, value in event_filter.attributes
            ],
        },
    }
