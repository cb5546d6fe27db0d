"""The Metrics page's form, as the metrics query's own parameters.

The page's URL holds the form: `name`, `aggregation`, `group_by`, `range`,
`interval`, and each label matcher as one `label` field written as the
API's parameter is, `env=prod` or `env!=prod` (a form cannot make up field
names). `api_args` turns them into the parameters of GET
/api/v1/dashboard/timeseries?kind=metric, so that route's parser decides
what a query is; only a matcher that is not `label=value` is refused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from monitor.web.api.metrics.query import LABEL_PREFIX
from monitor.web.edge.query_checks import QueryArgs

MATCHER = "label"
SINGLE = ("name", "aggregation", "group_by", "range", "interval")
FORM_PARAMETERS = frozenset({*SINGLE, MATCHER})
SHOWN_MATCHER_LENGTH = 60

Errors = list[dict[str, Any]]


@dataclass(frozen=True)
class MetricForm:
    """The form's fields as given (for showing them again)."""

    name: str
    aggregation: str
    group_by: str
    range: str
    interval: str
    matchers: tuple[str, ...]

    @property
    def asked(self) -> bool:
        """Whether a query was asked at all (a first visit shows only the form)."""
        return bool(self.name or self.group_by or self.interval or self.matchers)


def form_fields(args: QueryArgs) -> MetricForm:
    single = {key: args.get(key, "").strip() for key in SINGLE}
    matchers = tuple(raw.strip() for raw in args.getlist(MATCHER) if raw.strip())
    return MetricForm(matchers=matchers, **single)


def matcher_pair(raw: str) -> tuple[str, str] | None:
    """`env=prod` → (`label.env`, `prod`); `env!=prod` → (`label.env!`, `prod`); None when
    it has no `=` or no label name."""
    label, equals, value = raw.partition("=")
    label = label.strip()
    if not equals or label in ("", "!"):
        return None
    if label.endswith("!"):
        return f"{LABEL_PREFIX}{label[:-1].rstrip()}!", value.strip()
    return f"{LABEL_PREFIX}{label}", value.strip()


def api_args(args: QueryArgs) -> tuple[MultiDict[str, str], Errors]:
    """The timeseries route's parameters for the form in `args`, and what cannot be one."""
    errors: Errors = [
        {"field": key, "message": "is not a known parameter"}
        for key in args
        if key not in FORM_PARAMETERS
    ]
    errors.extend(
        {"field": key, "message": "give one value"} for key in SINGLE if len(args.getlist(key)) > 1
    )
    form = form_fields(args)
    pairs = [("kind", "metric")]
    pairs.extend((key, value) for key in SINGLE if (value := getattr(form, key)))
    for raw in form.matchers:
        pair = matcher_pair(raw)
        if pair is None:
            shown = raw[:SHOWN_MATCHER_LENGTH]
            errors.append(
                {"field": MATCHER, "message": f"“{shown}”: write label=value or label!=value"}
            )
        else:
            pairs.append(pair)
    return MultiDict(pairs), errors


def widget_query(args: MultiDict[str, str]) -> dict[str, Any]:
    """The timeseries route's parameters as a widget's stored query (a repeated one a list)."""
    query: dict[str, Any] = {}
    for key in args:
        values = args.getlist(key)
        query[key] = values[0] if len(values) == 1 else values
    return query
