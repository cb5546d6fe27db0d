"""GET /api/v1/dashboard/overview: its numbers on a known data set, sharing, hostile queries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import trio
from psycopg.types.json import Jsonb

from conftest import MakeKey, set_connections_allowed
from dashboard_helpers import HeldClock, Isolated, held_clock, isolated, problem_fields
from monitor.domain.audit import Actor, Attribution
from monitor.domain.ticks import OVERVIEW_TICK_CAP, align_window
from monitor.storage import alert_rules as alert_rule_store
from monitor.storage.gateway import Connection

__all__ = ["held_clock", "isolated"]  # fixtures

OVERVIEW = "/api/v1/dashboard/overview"
LEVELS = ["debug", "info", "warning", "error", "critical"]
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Sent:
    at: datetime
    level: str
    source: str
    fingerprint: str | None = None


def compared(value: float, previous: float) -> dict[str, Any]:
    return {
        "value": value,
        "previous": previous,
        "change": value - previous,
        "change_ratio": None if previous == 0 else (value - previous) / previous,
    }


def known_events(end: datetime) -> list[Sent]:
    """Events of the hour before `end`, of the hour before that, and just outside both."""
    start, previous_start = end - timedelta(hours=1), end - timedelta(hours=2)
    minute = timedelta(minutes=1)
    current = [
        *(Sent(start + 5 * minute, "info", "s1") for _ in range(4)),
        *(Sent(start + (10 + i) * minute, "error", "s1", "A") for i in range(2)),
        *(Sent(start + 20 * minute, "debug", "s2") for _ in range(2)),
        Sent(start + 21 * minute, "warning", "s2"),
        Sent(start + 22 * minute, "critical", "s2", "E"),
        Sent(start + 23 * minute, "error", "s2", "B"),
        *(Sent(start + 30 * minute, "info", "s3") for _ in range(4)),
        *(Sent(start + 40 * minute, "info", "s4") for _ in range(2)),
        Sent(start, "info", "s4"),  # the range's first instant is in it
        *(Sent(end - MICROSECOND, "debug", "s5") for _ in range(2)),  # and its last
        Sent(start + 50 * minute, "info", "s6"),
    ]
    previous = [
        Sent(previous_start, "info", "s1"),
        *(Sent(previous_start + 30 * minute, "warning", "s5") for _ in range(2)),
        *(Sent(previous_start + 40 * minute, "error", "s6", "C") for _ in range(2)),
        Sent(previous_start + 45 * minute, "error", "s6", "D"),
    ]
    outside = [
        Sent(end, "critical", "s1", "F"),  # the next period's
        Sent(previous_start - MICROSECOND, "info", "s1"),
    ]
    return current + previous + outside


def as_json(sent: Sent, tag: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "job",
        "level": sent.level,
        "source": sent.source,
        "message": "done",
        "time": sent.at.isoformat(),
    }
    if sent.fingerprint:
        event["fingerprint"] = f"{tag}-{sent.fingerprint}"
    return event


def expected_events(sent: list[Sent], start: datetime, end: datetime) -> list[Sent]:
    return [event for event in sent if start <= event.at < end]


async def test_the_numbers_of_a_known_data_set_and_their_change(
    isolated: Isolated, held_clock: HeldClock
) -> None:
    end = align_window(OVERVIEW_TICK_CAP, OVERVIEW_TICK_CAP, held_clock.now).end
    start, previous_start = end - timedelta(hours=1), end - timedelta(hours=2)
    sent = known_events(end)
    async with isolated.client() as http:
        response = await http.post(
            "/api/v1/events/bulk", json=[as_json(event, "g") for event in sent]
        )
        assert response.status_code == 201, response.text
        ids = response.json()["ids"]
        groups = {}
        for event, event_id in zip(sent, ids, strict=True):
            if event.fingerprint:
                got = (await http.get(f"/api/v1/events/{event_id}")).json()
                groups[event.fingerprint] = got["group_id"]
        for fingerprint, status in (("B", "resolved"), ("D", "ignored")):
            response = await http.patch(
                f"/api/v1/events/groups/{groups[fingerprint]}", json={"status": status}
            )
            assert response.status_code == 200, response.text

        samples = [
            *(
                {
                    "name": "cpu",
                    "source": f"h{i}",
                    "value": i,
                    "time": end - timedelta(seconds=25 + 5 * i),
                }
                for i in range(6)
            ),
            *(
                {"name": "cpu", "source": "h0", "value": 1, "time": end - timedelta(seconds=70 + i)}
                for i in range(3)
            ),
            {"name": "cpu", "source": "h0", "value": 1, "time": end - timedelta(minutes=3)},
            {"name": "mem", "source": "h0", "value": 1, "time": end - timedelta(minutes=3)},
        ]
        for sample in samples:
            sample["time"] = sample["time"].isoformat()
        response = await http.post("/api/v1/metrics/bulk", json=samples)
        assert response.status_code == 201, response.text
        mem = (await http.get("/api/v1/metrics/latest", params={"name": "mem"})).json()
        assert (
            await http.delete(f"/api/v1/metrics/{mem['series'][0]['series_id']}")
        ).status_code == 204
        await isolated.gateway.run(
            lambda connection: connection.execute(
                "update series set created_at = %s where name = 'cpu' and source = 'h0'",
                (end - timedelta(minutes=90),),
            )
        )

        relative = await http.get(OVERVIEW, params={"range": "1h"})
        absolute = await http.get(
            OVERVIEW, params={"from": start.isoformat(), "to": end.isoformat()}
        )
    assert relative.status_code == 200, relative.text
    body = relative.json()
    assert absolute.json() == body  # the same question, asked the other way

    now_events = expected_events(sent, start, end)
    before_events = expected_events(sent, previous_start, start)
    now_levels = Counter(event.level for event in now_events)
    before_levels = Counter(event.level for event in before_events)
    assert (body["from"], body["to"]) == (iso(start), iso(end))
    assert (body["previous_from"], body["previous_to"]) == (iso(previous_start), iso(start))
    assert body["events"] == {
        "total": compared(len(now_events), len(before_events)),
        "by_level": {level: compared(now_levels[level], before_levels[level]) for level in LEVELS},
    }
    assert body["errors_per_minute"] == compared(4 / 60, 3 / 60)  # A A B E; C C D
    assert body["new_error_groups"] == compared(2, 1)  # A and E (B resolved); C (D ignored)
    assert body["ingest"] == {
        "from": iso(end - timedelta(minutes=1)),
        "to": iso(end),
        "events_per_second": compared(len(sent) / 60, 0),  # all were received just now
        "samples_per_second": compared(6 / 60, 3 / 60),
    }
    assert body["live_series"] == compared(6, 1)  # h0..h5 of cpu (mem deleted); h0 an hour ago
    sources_now = Counter(event.source for event in now_events)
    sources_before = Counter(event.source for event in before_events)
    top = sorted(sources_now.items(), key=lambda item: (-item[1], item[0]))[:5]
    assert body["top_sources"] == [
        {"source": source, "count": compared(count, sources_before[source])}
        for source, count in top
    ]
    assert body["alerts"] == {"firing": 0, "by_severity": {}}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def cache_counters(http: httpx.AsyncClient) -> dict[str, int]:
    stats: dict[str, int] = (await http.get("/stats")).json()["dashboard_cache"]
    return stats


async def test_identical_requests_in_one_tick_are_computed_once_and_revalidate_to_304(
    client: httpx.AsyncClient, make_key: MakeKey, held_clock: HeldClock
) -> None:
    client.headers["X-API-Key"] = (await make_key("read"))[1]
    before = await cache_counters(client)
    first = await client.get(OVERVIEW, params={"range": "1h"})
    assert first.status_code == 200, first.text
    again = await client.get(OVERVIEW, params={"range": "60m"})  # another spelling of 1h
    after = await cache_counters(client)
    assert again.content == first.content
    assert after["computations"] - before["computations"] == 1
    assert after["hits_local"] - before["hits_local"] == 1
    assert first.headers["cache-control"] == "private, max-age=9"  # 1 s into a 10 s tick

    tag = first.headers["etag"]
    revalidated = await client.get(OVERVIEW, params={"range": "1h"}, headers={"If-None-Match": tag})
    assert revalidated.status_code == 304
    assert revalidated.content == b""

    held_clock.now += OVERVIEW_TICK_CAP  # the next tick: computed anew
    later = await client.get(OVERVIEW, params={"range": "1h"})
    assert later.status_code == 200
    assert (await cache_counters(client))["computations"] - after["computations"] == 1
    assert later.json()["to"] != first.json()["to"]


async def test_while_the_database_is_down_it_is_503_and_nothing_is_kept(
    isolated: Isolated, held_clock: HeldClock
) -> None:
    async with isolated.client() as http:
        set_connections_allowed(isolated.database_url, False)
        try:
            down = await http.get(OVERVIEW, params={"range": "1h"})
        finally:
            set_connections_allowed(isolated.database_url, True)
        assert down.status_code == 503, down.text  # one of its concurrent reads, not a 500
        assert down.json()["type"] == "urn:monitor:problem:storage-unavailable"
        assert "retry-after" in down.headers
        with trio.fail_after(10):
            while (back := await http.get(OVERVIEW, params={"range": "1h"})).status_code == 503:
                await trio.sleep(0.2)  # the gateway probes the database about once a second
        assert back.status_code == 200


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"range": "abc"}, {"range"}),
        ({"range": "0s"}, {"range"}),
        ({"range": "-1h"}, {"range"}),
        ({"range": "401d"}, {"range"}),
        ({"range": "9" * 300}, {"range"}),
        ({"range": "1h", "from": "2026-01-01T00:00:00Z"}, {"range"}),
        ({"from": "2026-01-01T00:00:00Z"}, {"to"}),
        ({"to": "2026-01-01T00:00:00Z"}, {"from"}),
        ({"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"}, {"from"}),  # no zone
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {"from"}),
        ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {"from"}),  # > 400d
        ({"from": "yesterday", "to": "today"}, {"from"}),  # the first bad one is named
        ({"from": "9999-12-31T23:59:59Z", "to": "9999-12-31T23:59:59.5Z"}, {"from"}),
        ({"source": "api"}, {"source"}),
        ({"range": "1h", "limit": "5", "attr.x": "1"}, {"limit", "attr.x"}),
    ],
)
async def test_bad_queries_are_400_naming_each_parameter(
    client: httpx.AsyncClient, admin_token: str, params: dict[str, str], fields: set[str]
) -> None:
    response = await client.get(OVERVIEW, params=params, headers={"X-API-Key": admin_token})
    assert problem_fields(response) == fields


async def test_firing_alerts_are_counted_by_severity(isolated: Isolated) -> None:
    """Only firing instances count: not pending, resolved or acknowledged-away ones."""
    rule = await alert_rule_store.create_rule(
        isolated.gateway,
        alert_rule_store.RuleFields("disk", "metric_threshold", True, {"name": "disk"}),
        by=Attribution(Actor.system("tests")),
    )
    instances = [
        ("a", "firing", "critical"),
        ("b", "firing", "critical"),
        ("c", "firing", "warning"),
        ("d", "pending", "critical"),
        ("e", "resolved", "warning"),
    ]

    def insert(connection: Connection) -> None:
        for host, state, severity in instances:
            connection.execute(
                "insert into alert_instances (rule_id, group_key, sequence, labels, state, "
                "since, opened_at) values (%s, %s, 1, %s, %s, now(), now())",
                (
                    rule.id,
                    f'{{"host":"{host}"}}',
                    Jsonb({"host": host, "severity": severity}),
                    state,
                ),
            )

    await isolated.gateway.run(insert)
    async with isolated.client() as http:
        body = (await http.get(OVERVIEW)).json()
    assert body["alerts"] == {"firing": 3, "by_severity": {"critical": 2, "warning": 1}}
