"""A widget is saved exactly when the route that draws it answers its query.

Random widget queries, valid and not, from the parameters the dashboard
routes take: saving the widget is a 201 when the route answers 200, and a
400 naming the same parameters (as `query.<name>`) when the route refuses.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import ThreadedService
from monitor.domain.widget_queries import QueryProblems, WidgetKind, widget_target

DASHBOARDS = "/api/v1/dashboards"
WIDGETS = "/api/v1/dashboard/widgets"

# Each parameter a widget's route may take, with values its route accepts and refuses.
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "kind": st.sampled_from(["events", "metric", "overview", "pie"]),
    "type": st.sampled_from(["errors", "metrics", "sources", "slow-requests", "everything"]),
    "range": st.sampled_from(["1h", "7d", "0s", "soon"]),
    "from": st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "yesterday"]),
    "to": st.sampled_from(["2026-01-02T00:00:00Z", "2025-12-31T00:00:00Z"]),
    "interval": st.sampled_from(["1m", "1h", "2d", "1s", "1 hour"]),
    "max_points": st.sampled_from([2, 300, 501, 5000, 0]),
    "group_by": st.sampled_from(["level", "source", "host", "colour"]),
    "name": st.sampled_from(["cpu", "1cpu"]),
    "aggregation": st.sampled_from(["avg", "p99", "p42"]),
    "query": st.lists(
        st.sampled_from(
            ["name=cpu", "name=mem&aggregation=p42", "name=cpu&from=2026-01-01T00:00:00Z", ""]
        ),
        min_size=1,
        max_size=3,
    ),
    "tz": st.sampled_from(["UTC", "Europe/Paris", "Mars/Olympus_Mons"]),
    "buckets": st.sampled_from([20, 101]),
    "scale": st.sampled_from(["log", "pie"]),
    "by": st.sampled_from(["value", "size"]),
    "status": st.sampled_from(["open", "closed"]),
    "limit": st.sampled_from([5, 0]),
    "level": st.sampled_from(["error", "loud"]),
    "label.env": st.just("prod"),
    "bogus": st.just("1"),
}
CHARTS = [{"kind": "events"}, {"kind": "metric", "name": "cpu"}]
# What each widget kind's route is chosen by, so most examples reach a route.
TARGETS: dict[str, list[dict[str, Any]]] = {
    "events": [{}],
    "timeseries": CHARTS,
    "heatmap": CHARTS,
    "stat": [*CHARTS, {"kind": "overview"}],
    "gauge": [{"kind": "overview"}],
    "top": [{"type": kind} for kind in ("errors", "metrics", "sources", "types", "slow-requests")],
}


@st.composite
def widgets(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A widget kind and a query: mostly its route's choice, then up to 3 parameters."""
    kind = draw(st.sampled_from(sorted(TARGETS)))
    query = dict(draw(st.sampled_from(TARGETS[kind]))) if draw(st.integers(0, 9)) else {}
    for name in draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=3, unique=True)):
        query[name] = draw(VALUES[name])
    return kind, query


def fields_of(response: httpx.Response) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(widget=widgets())
def test_a_widget_is_saved_exactly_when_its_route_answers(
    threaded_service: ThreadedService, widget: tuple[str, dict[str, Any]]
) -> None:
    kind, query = widget
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        board = client.post(DASHBOARDS, json={"name": f"checks {uuid.uuid4()}"})
        assert board.status_code == 201, board.text
        board_id = board.json()["id"]
        saved = client.post(
            WIDGETS, json={"dashboard_id": board_id, "title": "t", "kind": kind, "query": query}
        )
        try:
            target = widget_target(cast(WidgetKind, kind), query)
        except QueryProblems as problems:  # no route can draw it: nothing to ask one
            assert saved.status_code == 400, saved.text
            assert fields_of(saved) == {f"query.{field}" for field, _ in problems.problems}
            return
        answered = client.get(target.path, params=list(target.params))
        event(f"{target.route} answered {answered.status_code}")
        if answered.status_code == 200:
            assert saved.status_code == 201, saved.text
        else:
            assert answered.status_code == 400, answered.text
            assert saved.status_code == 400, saved.text
            assert fields_of(saved) == {f"query.{field}" for field in fields_of(answered)}
