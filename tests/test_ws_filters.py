"""Filters deliver exactly the matching items: random event mixes against a model."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ThreadedService, Transport
from monitor.domain.events import LEVEL_NUMBER, LEVELS
from monitor.domain.live_filters import EventStreamFilter, parse_filter
from ws_helpers import barrier, connect, items_until, subscribe

TYPES = ("deploy", "error", "login")
SOURCES = ("api", "web", "")

events_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(TYPES),
            "source": st.sampled_from(SOURCES),
            "level": st.sampled_from(LEVELS),
        }
    ),
    min_size=1,
    max_size=40,
)
filter_strategy = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(TYPES),
        "source": st.sampled_from([s for s in SOURCES if s]),
        "min_level": st.sampled_from(LEVELS),
    },
)


def model_matches(event_filter: dict[str, Any], event: dict[str, Any]) -> bool:
    """What a filter means, written apart from the implementation."""
    for field in ("type", "source"):
        if field in event_filter and event[field] != event_filter[field]:
            return False
    return "min_level" not in event_filter or (
        LEVEL_NUMBER[event["level"]] >= LEVEL_NUMBER[event_filter["min_level"]]
    )


async def deliver(
    service: ThreadedService, filters: list[dict[str, Any]], events: list[dict[str, Any]]
) -> tuple[list[str], dict[str, list[str]]]:
    """Ingest `events` with one subscription per filter; the ids each subscription got."""
    marker = uuid.uuid4().hex
    for event in events:
        event["message"] = marker
    async with connect(service.base_url, service.admin_token) as ws:
        await subscribe(ws, "events:realtime", name="all")
        for number, event_filter in enumerate(filters):
            await subscribe(ws, "events:realtime", event_filter, name=f"f{number}")
        async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
            response = await http.post(
                "/api/v1/events/bulk", json=events, headers={"X-API-Key": service.admin_token}
            )
        ids: list[str] = response.json()["ids"]
        mine = set(ids)
        got = await items_until(
            ws, "all", lambda items: mine <= {item["id"] for item in items}, timeout=20
        )
        # Everything queued for this connection up to now comes before the pong.
        for message in await barrier(ws):
            got.setdefault(message["subscription"], []).extend(message["items"])
    return ids, {
        name: [item["id"] for item in items if item["message"] == marker]
        for name, items in got.items()
    }


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=events_strategy, filters=st.lists(filter_strategy, min_size=1, max_size=4))
def test_each_subscription_gets_exactly_the_events_its_filter_matches(
    threaded_service: ThreadedService,
    transport: Transport,
    events: list[dict[str, Any]],
    filters: list[dict[str, Any]],
) -> None:
    before = threaded_service.counters
    ids, got = trio.run(deliver, threaded_service, filters, [dict(e) for e in events])
    after = threaded_service.counters
    transport.assert_used(
        after.opened - before.opened, after.asgi_fallbacks - before.asgi_fallbacks
    )
    assert got["all"] == ids
    for number, event_filter in enumerate(filters):
        expected = [i for i, e in zip(ids, events, strict=True) if model_matches(event_filter, e)]
        assert got.get(f"f{number}", []) == expected, (event_filter, events)


@given(event_filter=filter_strategy, event=events_strategy.map(lambda events: events[0]))
def test_the_parsed_filter_agrees_with_the_model(
    event_filter: dict[str, Any], event: dict[str, Any]
) -> None:
    parsed = parse_filter("events:realtime", event_filter)
    assert parsed is None or isinstance(parsed, EventStreamFilter)
    matches = parsed is None or parsed.matches(
        event["type"], event["source"], LEVEL_NUMBER[event["level"]]
    )
    assert matches == model_matches(event_filter, event)
