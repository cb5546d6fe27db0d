"""The shapes of alert rule, instance and history requests and answers (for OpenAPI).

A rule body is read by domain/alert_rules.py `parse_rule`, not by these
models: they describe every field for the OpenAPI document (with issue
17's example), and the parser is what accepts or refuses, naming each bad
field. Instance and acknowledgement shapes are validated by the models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from monitor.domain.alert_rules import (
    DEFAULT_LOOKBACK,
    DEFAULT_OFFSET,
    DEFAULT_RESOLVE_AFTER,
    MAX_DESCRIPTION,
    MAX_RULE_NAME,
)
from monitor.domain.durations import format_duration

RULE_EXAMPLE: dict[str, Any] = {
    "name": "api latency high",
    "kind": "metric_threshold",
    "enabled": True,
    "selector": {"name": "http_request_seconds", "labels": {"service": "api"}},
    "aggregation": "p95",
    "window": "5m",
    "group_by": ["host"],
    "comparator": ">",
    "threshold": 0.5,
    "resolve_threshold": 0.4,
    "interval": "30s",
    "for": "2m",
    "keep_firing_for": "5m",
    "no_data": "no_data",
    "severity": "warning",
    "labels": {"team": "api"},
    "annotations": {"summary": "p95 {{ value | round(3) }} s on {{ labels.host }}"},
}

Duration = Annotated[
    str | float,
    Field(description="Text such as `30s`, `5m`, `1h30m`, or a number of seconds."),
]
StateName = Literal["inactive", "pending", "firing", "resolved", "no_data", "error"]


class Selector(BaseModel):
    """Which metric series: a name and label matchers as in the metrics query."""

    name: str = Field(description="The metric's name.")
    labels: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Label matchers as in `GET /api/v1/metrics`: `host: a` equals, "
        "`host!: a` differs, `host: a*` a prefix; a list matches each of its values.",
    )


class RuleDocument(BaseModel):
    """An alert rule. Which fields apply depends on `kind` (see docs/alerts.md); a field
    that does not apply to the kind is refused, naming it."""

    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [RULE_EXAMPLE]})

    name: str = Field(
        description=f"Unique whatever its case; 1 to {MAX_RULE_NAME} printable characters."
    )
    kind: Literal["metric_threshold", "event_count", "error_group", "absence"] = Field(
        description="metric_threshold: a metric's aggregation against a threshold; "
        "event_count: events matching `filters` counted over the window; error_group: "
        "error groups that are new, regressed or too frequent; absence: no samples or events."
    )
    enabled: bool = Field(True, description="A disabled rule is not evaluated; its history stays.")
    description: str = Field("", description=f"Free text, at most {MAX_DESCRIPTION} characters.")
    selector: Selector | None = Field(
        None, description="metric_threshold and absence (metrics): the series to watch."
    )
    filters: dict[str, Any] | None = Field(
        None,
        description="event_count, error_group and absence (events): the events list's "
        "filters as an object (`type`, `level`, `min_level`, `source`, `q`, `attr.<key>`); "
        "checked by the events list's own parser when saved.",
    )
    condition: Literal["new", "regression", "frequency"] | None = Field(
        None,
        description="error_group: a new group appears, a resolved group is seen again, "
        "or a group's count in `window` passes the threshold.",
    )
    aggregation: str | None = Field(
        None,
        description="metric_threshold: avg, sum, min, max, count, last, rate, p50, p90, "
        "p95, p99 (default avg); event_count: count or rate (events per second).",
    )
    window: Duration | None = Field(
        None, description="The span each evaluation looks at (10s to 1d)."
    )
    group_by: list[str] | None = Field(
        None,
        description="One instance per group: label names for metrics, `source` and/or "
        "`type` for events.",
    )
    comparator: Literal[">", ">=", "<", "<=", "==", "!="] | None = Field(
        None, description="How the value is compared with the threshold."
    )
    threshold: float | None = Field(None, description="Breaches when `value <comparator> it`.")
    resolve_threshold: float | None = Field(
        None,
        description="Hysteresis: once firing, it stays firing until the value passes this "
        "one (on the resolving side of threshold).",
    )
    resolve_after: Duration | None = Field(
        None,
        description="error_group new and regression: resolved after this long without "
        f"events (default {format_duration(DEFAULT_RESOLVE_AFTER)}).",
    )
    lookback: Duration | None = Field(
        None,
        description="absence: the groups expected are those seen during this span before "
        f"the window (default {format_duration(DEFAULT_LOOKBACK)}).",
    )
    interval: Duration | None = Field(
        None, description="How often it is evaluated (5s to 1d; 30s)."
    )
    for_: Duration | None = Field(
        None, alias="for", description="How long the condition holds (pending) before firing."
    )
    keep_firing_for: Duration | None = Field(
        None, description="How long a firing instance stays firing after the condition clears."
    )
    no_data: Literal["ok", "alerting", "no_data"] | None = Field(
        None, description="What no data means: not breaching, breaching, or the state no_data."
    )
    offset: Duration | None = Field(
        None,
        description="Evaluation reads data up to now minus this, so late samples are not "
        f"missing (default {format_duration(DEFAULT_OFFSET)}, at most 1h).",
    )
    severity: Literal["info", "warning", "critical"] | None = Field(
        None, description="Copied into each instance's labels (default warning)."
    )
    labels: dict[str, str] | None = Field(
        None,
        description="Added to each instance's labels (not `rule` or `severity`); values are "
        "templates like annotations.",
    )
    annotations: dict[str, str] | None = Field(
        None,
        description="Sandboxed Jinja2 templates: `{{ value }}`, `{{ labels.host }}`, "
        "`{{ threshold }}`, `{{ rule }}`; a template that cannot be used is a 400 naming it.",
    )


class RuleOut(BaseModel):
    id: int
    version: int = Field(description='Also the `ETag` ("<version>") of GET; send in If-Match.')
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    rule: RuleDocument = Field(
        description="The rule in its canonical form (every default written out): what "
        "`PUT` takes back."
    )


class RuleList(BaseModel):
    rules: list[RuleOut] = Field(description="By name.")


class IfMatchHeader(BaseModel):
    if_match: str | None = Field(
        None,
        description='The version as read (the `ETag`, e.g. "3"), or *: the change is made '
        "only if it is still at that version, else 412. Omitted: the last write wins.",
    )


class Acknowledgement(BaseModel):
    by: str = Field(description="The name of the key that acknowledged it.")
    comment: str
    at: datetime
    until: datetime | None = Field(description="Owned until then; null: until it closes.")


class InstanceOut(BaseModel):
    id: int
    rule_id: int
    rule_name: str
    labels: dict[str, str] = Field(
        description="The rule's labels, the group's labels, `rule` and `severity`."
    )
    annotations: dict[str, str] = Field(description="Rendered at the last evaluation.")
    state: StateName
    since: datetime = Field(description="When it entered its state.")
    value: float | None = Field(description="The last value evaluated; null when none.")
    reason: str | None = Field(description="Why it entered its state.")
    acknowledgement: Acknowledgement | None
    opened_at: datetime
    closed_at: datetime | None = Field(description="null while open.")


class ListedInstance(InstanceOut):
    silenced_by: list[int] = Field(
        description="The silences muting its notifications now (open instances only)."
    )
    inhibited_by: list[int] = Field(
        description="The inhibition rules muting its notifications now (open instances only)."
    )


class InstancePage(BaseModel):
    instances: list[ListedInstance] = Field(description="Newest opened first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class InstanceQuery(BaseModel):
    state: str | None = Field(
        None,
        description="inactive, pending, firing, resolved, no_data, error; repeat or "
        "comma-separate.",
    )
    rule_id: str | None = Field(None, description="Only these rules; repeat or comma-separate.")
    severity: str | None = Field(
        None, description="info, warning, critical; repeat or comma-separate."
    )
    from_: datetime | None = Field(
        None, alias="from", description="RFC 3339: instances still open at or after it."
    )
    to: datetime | None = Field(None, description="RFC 3339: instances opened before it.")
    limit: int | None = Field(None, ge=1, le=1000, description="Page size (default 100).")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")


class TransitionOut(BaseModel):
    id: int = Field(description="Increases in the order transitions are recorded.")
    instance_id: int
    from_state: StateName
    to_state: StateName
    at: datetime
    value: float | None
    reason: str
    labels: dict[str, str]
    annotations: dict[str, str]
    actor: str | None = Field(description="Who, for an operator's action; null: the evaluator.")


class HistoryPage(BaseModel):
    transitions: list[TransitionOut] = Field(description="Last recorded first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class HistoryQuery(BaseModel):
    limit: int | None = Field(None, ge=1, le=1000, description="Page size (default 100).")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")


_STRICT = ConfigDict(extra="forbid", strict=True)


class AcknowledgeIn(BaseModel):
    """Marks a firing, no_data or error instance owned; its state does not change."""

    model_config = _STRICT

    comment: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
    until: AwareDatetime | None = Field(
        None, description="RFC 3339 with an offset, in the future; omitted: until it closes."
    )


class GroupTrialOut(BaseModel):
    group: dict[str, str] = Field(description="The group's labels (of `group_by`).")
    labels: dict[str, str] = Field(description="The labels its instance would carry.")
    state: StateName = Field(description="The state one evaluation now would leave it in.")
    value: float | None
    reason: str | None
    annotations: dict[str, str] = Field(description="Rendered ('' where rendering failed).")
    annotation_problems: dict[str, str] = Field(description="Why an annotation failed.")


class TrialOut(BaseModel):
    evaluated_at: datetime
    groups: list[GroupTrialOut] = Field(
        description="Every group seen now, and every open instance's group, by labels."
    )


class BacktestIn(BaseModel):
    """Give `rule_id` (a saved rule) or `rule` (one as `POST /api/v1/alerts` takes it)."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"rule": RULE_EXAMPLE, "from": "2026-12-01T00:00:00Z", "to": "2026-12-01T06:00:00Z"}
            ]
        },
    )

    rule: RuleDocument | None = None
    rule_id: int | None = Field(None, ge=1)
    from_: datetime = Field(alias="from", description="RFC 3339: the first evaluation.")
    to: datetime = Field(
        description="RFC 3339, exclusive; at most 2000 evaluations at the rule's interval."
    )


class BacktestTransition(BaseModel):
    labels: dict[str, str]
    from_state: StateName
    to_state: StateName
    at: datetime
    value: float | None
    reason: str


class BacktestFiring(BaseModel):
    labels: dict[str, str]
    seconds: float = Field(description="How long it would have fired in from-to.")


class BacktestOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    interval_seconds: float
    evaluations: int
    transitions: list[BacktestTransition] = Field(description="In time order.")
    transitions_truncated: bool = Field(description="True: only the first 10,000 are listed.")
    firing: list[BacktestFiring] = Field(description="Every group that would have fired.")
    firing_seconds: float = Field(description="The sum over groups.")
