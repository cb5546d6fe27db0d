"""What rules observe: absence per expected group, thresholds and counts from shared reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from conftest import ThreadedService, make_settings, threaded
from monitor.alert_observations import RuleToObserve, groups_seen, observe_in
from monitor.alert_templates import template_problem
from monitor.domain.alert_rules import AlertRule, parse_rule
from monitor.domain.alert_states import Sample
from monitor.web.api.events.query import event_filter_of_pairs

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def threaded_service(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedService]:
    with threaded(make_settings(database_url, tmp_path_factory.mktemp("observe"))) as running:
        yield running


def _post(service: ThreadedService, path: str, items: list[dict[str, Any]]) -> None:
    headers = {"X-API-Key": service.admin_token}
    with httpx.Client(base_url=service.base_url, headers=headers, timeout=10) as client:
        response = client.post(path, json=items)
        assert response.status_code == 201, response.text


def _rule(raw: dict[str, Any]) -> AlertRule:
    return parse_rule({"name": "r", "offset": "0s", **raw}, check_template=template_problem)


def _observe(database_url: str, *rules: AlertRule, now: datetime = NOW) -> dict[int, Any]:
    asked = [RuleToObserve(number, rule) for number, rule in enumerate(rules)]
    with psycopg.connect(database_url) as connection:
        return observe_in(connection, asked, now, event_filter_of_pairs)


def _sample(name: str, host: str, ago: timedelta) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {"host": host},
        "value": 1,
        "time": (NOW - ago).isoformat(),
    }


def test_a_metric_absence_counts_each_expected_group(
    threaded_service: ThreadedService, database_url: str
) -> None:
    name = f"beat_{uuid.uuid4().hex[:8]}"
    minute = timedelta(minutes=1)
    _post(
        threaded_service,
        "/api/v1/metrics/bulk",
        [
            _sample(name, "a", 10 * minute),  # seen in the lookback, and lately:
            _sample(name, "a", minute / 2),
            _sample(name, "a", minute / 4),
            _sample(name, "b", 10 * minute),  # seen in the lookback only: absent
            _sample(name, "old", 40 * minute),  # before the lookback: not expected
        ],
    )
    rule = _rule(
        {
            "kind": "absence",
            "selector": {"name": name},
            "window": "1m",
            "lookback": "20m",
            "group_by": ["host"],
        }
    )
    assert _observe(database_url, rule)[0] == {
        (("host", "a"),): Sample(2.0),
        (("host", "b"),): Sample(0.0),
    }


def test_an_event_absence_counts_each_source_seen_in_the_lookback(
    threaded_service: ThreadedService, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]

    def event(source: str, ago: timedelta) -> dict[str, Any]:
        return {
            "type": "heartbeat",
            "level": "info",
            "source": f"{tag}-{source}",
            "message": "beat",
            "time": (NOW - ago).isoformat(),
        }

    _post(
        threaded_service,
        "/api/v1/events/bulk",
        [
            event("x", timedelta(minutes=30)),
            event("y", timedelta(minutes=30)),
            event("y", timedelta(seconds=20)),
        ],
    )
    rule = _rule(
        {
            "kind": "absence",
            "filters": {"type": "heartbeat", "source": f"{tag}-x,{tag}-y"},
            "window": "5m",
            "lookback": "1h",
            "group_by": ["source"],
        }
    )
    assert _observe(database_url, rule)[0] == {
        (("source", f"{tag}-x"),): Sample(0.0),
        (("source", f"{tag}-y"),): Sample(1.0),
    }


def test_rules_on_one_selector_share_a_read_and_each_gets_its_own_value(
    threaded_service: ThreadedService, database_url: str
) -> None:
    name = f"lat_{uuid.uuid4().hex[:8]}"
    _post(
        threaded_service,
        "/api/v1/metrics/bulk",
        [
            {
                "name": name,
                "labels": {"host": "a"},
                "value": value,
                "time": (NOW - timedelta(seconds=ago)).isoformat(),
            }
            for ago, value in ((200, 10.0), (50, 4.0), (20, 2.0))
        ],
    )
    common = {
        "kind": "metric_threshold",
        "selector": {"name": name},
        "group_by": ["host"],
        "comparator": ">",
        "threshold": 1,
    }
    five = _rule({**common, "aggregation": "max", "window": "5m"})
    one = _rule({**common, "aggregation": "max", "window": "1m"})
    average = _rule({**common, "aggregation": "avg", "window": "5m"})
    unknown = _rule(
        {**common, "selector": {"name": f"{name}_none"}, "aggregation": "max", "window": "1m"}
    )
    found = _observe(database_url, five, one, average, unknown)
    a = (("host", "a"),)
    assert found[0] == {a: Sample(10.0)}
    assert found[1] == {a: Sample(4.0)}
    assert found[2] == {a: Sample(16.0 / 3)}
    assert found[3] == {}, "no series: nothing seen (missing for open instances)"


def test_error_group_rules_see_new_regressed_and_frequent_groups(
    threaded_service: ThreadedService, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    # Its own clock, not the module's NOW: the frequency window is a minute, and a
    # full run reaches this test long after the module was imported.
    began = datetime.now(UTC)

    def error(message: str, ago: timedelta) -> dict[str, Any]:
        return {
            "type": "exception",
            "level": "error",
            "source": tag,
            "message": message,
            "time": (began - ago).isoformat(),
        }

    second = timedelta(seconds=1)
    _post(
        threaded_service,
        "/api/v1/events/bulk",
        [
            error("disk full", 30 * second),
            error("disk full", 20 * second),
            error("timeout", 10 * second),
        ],
    )
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        groups = client.get("/api/v1/events/groups", params={"source": tag}).json()["groups"]
        ids = {group["message"]: group["id"] for group in groups}
        # "timeout" is resolved; "disk full" is resolved and then happens again.
        for message in ("timeout", "disk full"):
            response = client.patch(
                f"/api/v1/events/groups/{ids[message]}", json={"status": "resolved"}
            )
            assert response.status_code == 200, response.text
    _post(threaded_service, "/api/v1/events/bulk", [error("disk full", 5 * second)])

    def key(message: str) -> tuple[tuple[str, str], ...]:
        return (("error_group", str(ids[message])), ("source", tag), ("type", "exception"))

    base = {"kind": "error_group", "filters": {"source": tag}}
    new = _rule({**base, "condition": "new"})
    regression = _rule({**base, "condition": "regression"})
    frequency = _rule(
        {**base, "condition": "frequency", "window": "1m", "comparator": ">=", "threshold": 2}
    )
    # Later than the regression (recorded at its commit, after NOW).
    found = _observe(database_url, new, regression, frequency, now=datetime.now(UTC))
    assert found[0] == {key("disk full"): Sample(1.0), key("timeout"): Sample(0.0)}, (
        "both are new; a resolved group no longer counts"
    )
    assert found[1] == {key("disk full"): Sample(1.0)}
    assert found[2] == {key("disk full"): Sample(3.0), key("timeout"): Sample(1.0)}


def test_the_evaluators_read_keeps_only_groups_that_can_change_but_counts_them_all(
    threaded_service: ThreadedService, database_url: str
) -> None:
    name = f"hot_{uuid.uuid4().hex[:8]}"
    minute = timedelta(minutes=1)
    _post(
        threaded_service,
        "/api/v1/metrics/bulk",
        [
            {
                "name": name,
                "labels": {"host": host},
                "value": value,
                "time": (NOW - minute / 2).isoformat(),
            }
            for host, value in (("cool", 10), ("hot", 95), ("open", 20), ("other", 30))
        ],
    )
    rule = _rule(
        {
            "kind": "metric_threshold",
            "selector": {"name": name},
            "aggregation": "max",
            "window": "1m",
            "group_by": ["host"],
            "comparator": ">",
            "threshold": 90,
        }
    )
    known = frozenset({(("host", "open"),)})
    with psycopg.connect(database_url) as connection:
        every = observe_in(connection, [RuleToObserve(1, rule, known)], NOW, event_filter_of_pairs)
        kept = observe_in(
            connection,
            [RuleToObserve(1, rule, known, changes_only=True)],
            NOW,
            event_filter_of_pairs,
        )
    assert len(every[1]) == 4 and groups_seen(every[1]) == 4
    assert kept[1] == {(("host", "hot"),): Sample(95.0), (("host", "open"),): Sample(20.0)}
    assert groups_seen(kept[1]) == 4, "the rule's run still counts every group seen"
