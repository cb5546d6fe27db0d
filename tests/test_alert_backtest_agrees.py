"""Backtest and live evaluation agree on the same data (issue 17).

Hypothesis writes samples or events through the API, then evaluates one rule
over the same ticks twice: as `POST /backtest` does (alert_trials.backtest,
from no instances, nothing written) and as the leading evaluator does (its
cycle, with the real reads, recording through the epoch fence into the
database). The transitions the backtest reports must be exactly the rows the
evaluator wrote: same groups, states, times, values and reasons.

The evaluator's term began long before the first tick, so its warm-up (a
new leader does not step groups without data for one window) does not
apply: the backtest has no such thing to replay.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import ThreadedService, create_database, drop_database, make_settings, threaded
from monitor import alert_trials, wiring
from monitor.actors import alert_evaluator
from monitor.alert_templates import template_problem
from monitor.domain.alert_rules import AGGREGATIONS, parse_rule, rule_document
from monitor.domain.audit import Actor, Attribution
from monitor.evaluator_figures import EvaluatorFigures
from monitor.storage import alert_rules as rule_store
from monitor.storage.gateway import open_gateway
from monitor.storage.leadership import LeaderConnection
from monitor.storage.migrate import apply_migrations
from monitor.web.api.events.query import event_filter_of_pairs

BY = Attribution(Actor.system("tests"))
INTERVAL = timedelta(seconds=10)
TICKS = 40  # 400 s of evaluations
HOSTS = ("a", "b", "c")


@pytest.fixture(scope="module")
def agreement_database() -> Iterator[tuple[str, int]]:
    """Its own database, led by this module: the service's evaluator only follows."""
    name = f"monitor_agree_{uuid.uuid4().hex[:10]}"
    url = create_database(name)
    apply_migrations(url)
    leader = LeaderConnection.open(url, statement_timeout=5)
    epoch = leader.try_lead("backtest agreement tests")
    assert epoch is not None
    yield url, epoch
    leader.close()
    drop_database(name)


@pytest.fixture(scope="module")
def ingest(
    agreement_database: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedService]:
    url, _ = agreement_database
    with threaded(make_settings(url, tmp_path_factory.mktemp("agree"))) as running:
        yield running


def _post(service: ThreadedService, path: str, items: list[dict[str, Any]]) -> None:
    headers = {"X-API-Key": service.admin_token}
    with httpx.Client(base_url=service.base_url, headers=headers, timeout=30) as client:
        response = client.post(path, json=items)
        assert response.status_code in (201, 202), response.text


def _start() -> datetime:
    """Ten minutes of data an hour ago, on a whole minute (rollup edges are exercised)."""
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


points = st.lists(
    st.tuples(st.sampled_from(HOSTS), st.integers(0, TICKS * 10 - 1), st.integers(0, 10)),
    min_size=1,
    max_size=60,
)
timing = st.fixed_dictionaries(
    {
        "window": st.sampled_from(["10s", "30s", "1m", "2m"]),
        "for": st.sampled_from(["0s", "10s", "30s"]),
        "keep_firing_for": st.sampled_from(["0s", "20s"]),
        "no_data": st.sampled_from(["ok", "alerting", "no_data"]),
        "comparator": st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
        "threshold": st.integers(0, 10),
    }
)


def _evaluate_both(
    database: tuple[str, int], raw_rule: dict[str, Any], start: datetime
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(what the backtest reports, what the evaluator wrote) for the rule's ticks."""
    url, epoch = database
    rule = parse_rule(raw_rule, check_template=template_problem)
    times = [start + INTERVAL * tick for tick in range(TICKS)]

    async def main() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        async with open_gateway(
            url, pool_size=2, statement_timeout=10, acquire_timeout=5, connect_timeout=5
        ) as gateway:
            record = await rule_store.create_rule(
                gateway,
                rule_store.RuleFields(rule.name, rule.kind, True, rule_document(rule)),
                by=BY,
            )
            tried = await alert_trials.backtest(
                gateway,
                rule,
                rule_id=record.id,
                start=times[0],
                end=times[-1] + INTERVAL,
                event_filter_of=event_filter_of_pairs,
            )
            clock = [times[0]]
            live = replace(
                wiring.evaluator_deps(gateway, lambda _: None, concurrency=2),
                now=lambda: clock[0],
                rules_fingerprint=lambda: _constant(record.id),
                load_rules=lambda: _only(record),
            )
            term = alert_evaluator._Term(epoch, began=times[0] - timedelta(days=1))
            figures = EvaluatorFigures()
            for now in times:
                clock[0] = now
                await alert_evaluator._cycle(term, live, figures)
            assert figures.late_ticks == 0 and figures.evaluations == TICKS
        backtested = [
            (
                dict(item.group),
                item.transition.from_state.value,
                item.transition.to_state.value,
                item.transition.at,
                item.transition.value,
                item.transition.reason,
            )
            for item in tried.transitions
        ]
        assert not tried.truncated
        return backtested, _written(url, record.id)

    return trio.run(main)


async def _constant(value: object) -> object:
    return value


async def _only(record: rule_store.RuleRecord) -> list[rule_store.RuleRecord]:
    return [record]


def _written(url: str, rule_id: int) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "select i.group_key, t.from_state, t.to_state, t.at, t.value, t.reason "
            "from alert_transitions t join alert_instances i on i.id = t.instance_id "
            "where t.rule_id = %s order by t.id",
            (rule_id,),
        ).fetchall()
    return [(json.loads(row[0]), *row[1:]) for row in rows]


def _order(transitions: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The same tick's transitions may be written in another group order."""
    return sorted(transitions, key=lambda item: (item[3], sorted(item[0].items()), item[1]))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    points=points,
    aggregation=st.sampled_from(AGGREGATIONS),
    timing=timing,
    hysteresis=st.integers(0, 3),
)
def test_a_metric_rule_backtested_makes_the_transitions_live_evaluation_records(
    ingest: ThreadedService,
    agreement_database: tuple[str, int],
    points: list[tuple[str, int, int]],
    aggregation: str,
    timing: dict[str, Any],
    hysteresis: int,
) -> None:
    name = f"agree_{uuid.uuid4().hex[:10]}"
    start = _start()
    if points:
        _post(
            ingest,
            "/api/v1/metrics/bulk",
            [
                {
                    "name": name,
                    "type": "counter" if aggregation == "rate" else "gauge",
                    "labels": {"host": host},
                    "value": value if aggregation != "rate" else second * value,
                    "time": (start + timedelta(seconds=second)).isoformat(),
                }
                for host, second, value in points
            ],
        )
    resolve: dict[str, Any] = {}
    if hysteresis and timing["comparator"] in (">", ">="):
        resolve = {"resolve_threshold": timing["threshold"] - hysteresis}
    elif hysteresis and timing["comparator"] in ("<", "<="):
        resolve = {"resolve_threshold": timing["threshold"] + hysteresis}
    raw_rule = {
        "name": name,
        "kind": "metric_threshold",
        "selector": {"name": name},
        "aggregation": aggregation,
        "group_by": ["host"],
        "interval": "10s",
        "offset": "0s",
        "annotations": {"summary": "{{ labels.host }} at {{ value }}"},
        **timing,
        **resolve,
    }
    backtested, written = _evaluate_both(agreement_database, raw_rule, start)
    event(f"transitions: {'none' if not written else 'some' if len(written) < 5 else '5+'}")
    assert _order(written) == _order(backtested)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(points=points, measure=st.sampled_from(["count", "rate"]), timing=timing)
def test_an_event_rule_backtested_makes_the_transitions_live_evaluation_records(
    ingest: ThreadedService,
    agreement_database: tuple[str, int],
    points: list[tuple[str, int, int]],
    measure: str,
    timing: dict[str, Any],
) -> None:
    marker = uuid.uuid4().hex[:10]
    start = _start()
    if points:
        _post(
            ingest,
            "/api/v1/events/bulk",
            [
                {
                    "source": f"{marker}-{host}",
                    "type": "deploy",
                    "level": "error" if value > 5 else "info",
                    "message": marker,
                    "time": (start + timedelta(seconds=second)).isoformat(),
                }
                for host, second, value in points
            ],
        )
    raw_rule = {
        "name": f"events {marker}",
        "kind": "event_count",
        "filters": {"q": marker},
        "aggregation": measure,
        "group_by": ["source"],
        "interval": "10s",
        "offset": "0s",
        **timing,
        "threshold": timing["threshold"] / 10 if measure == "rate" else timing["threshold"] / 3,
    }
    backtested, written = _evaluate_both(agreement_database, raw_rule, start)
    event(f"transitions: {'none' if not written else 'some' if len(written) < 5 else '5+'}")
    assert _order(written) == _order(backtested)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    points=points,
    window=st.sampled_from(["10s", "30s", "1m"]),
    lookback=st.sampled_from(["1m", "5m"]),
    for_=st.sampled_from(["0s", "20s"]),
)
def test_an_absence_rule_backtested_makes_the_transitions_live_evaluation_records(
    ingest: ThreadedService,
    agreement_database: tuple[str, int],
    points: list[tuple[str, int, int]],
    window: str,
    lookback: str,
    for_: str,
) -> None:
    name = f"agree_{uuid.uuid4().hex[:10]}"
    start = _start()
    _post(
        ingest,
        "/api/v1/metrics/bulk",
        [
            {
                "name": name,
                "labels": {"host": host},
                "value": value,
                "time": (start + timedelta(seconds=second)).isoformat(),
            }
            for host, second, value in points
        ],
    )
    raw_rule = {
        "name": name,
        "kind": "absence",
        "selector": {"name": name},
        "window": window,
        "lookback": lookback,
        "group_by": ["host"],
        "interval": "10s",
        "for": for_,
        "offset": "0s",
    }
    backtested, written = _evaluate_both(agreement_database, raw_rule, start)
    event(f"transitions: {'none' if not written else 'some' if len(written) < 5 else '5+'}")
    assert _order(written) == _order(backtested)


def test_the_comparison_sees_a_difference(
    ingest: ThreadedService, agreement_database: tuple[str, int], tmp_path: Path
) -> None:
    """The live side really writes transitions (this test fails if it wrote none)."""
    name = f"agree_{uuid.uuid4().hex[:10]}"
    start = _start()
    _post(
        ingest,
        "/api/v1/metrics/bulk",
        [
            {"name": name, "labels": {"host": "a"}, "value": 9, "time": start.isoformat()},
            {
                "name": name,
                "labels": {"host": "a"},
                "value": 1,
                "time": (start + timedelta(seconds=100)).isoformat(),
            },
        ],
    )
    raw_rule = {
        "name": name,
        "kind": "metric_threshold",
        "selector": {"name": name},
        "aggregation": "last",
        "window": "1m",
        "group_by": ["host"],
        "comparator": ">",
        "threshold": 5,
        "interval": "10s",
        "for": "20s",
        "offset": "0s",
        "no_data": "ok",
    }
    backtested, written = _evaluate_both(agreement_database, raw_rule, start)
    states = [(item[1], item[2]) for item in written]
    assert states == [("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]
    assert _order(written) == _order(backtested)
