"""Alert labels and annotations as Jinja2 templates, in a sandbox with bounded work.

A rule's author writes `p95 {{ value | round(3) }} s on {{ labels.host }}`;
the variables are `value` (the group's value, or none), `labels` (the
instance's labels), `threshold` and `rule` (the rule's name). Templates run in
`ImmutableSandboxedEnvironment` (no attribute starting with `_`, no mutation
of the context) and are kept small enough that rendering stays cheap:

- checked when saved (`template_problem`): at most MAX_TEMPLATE characters;
  only expressions and `if` (no loops, `set`, macros, includes or calls:
  those are where unbounded work hides); only the variables above and the
  filters in `FILTERS`; a syntax error or unknown filter is refused there;
- rendered (`render`): every filter's text or list result, `*` and `+`
  results are at most MAX_OUTPUT characters/items (else the render fails),
  `**` is done in floats, and the output is cut at MAX_OUTPUT characters.
  A render that fails returns a `Rendered` with the reason, never raises.

`instance_labels` puts an instance's labels together (issue 17's order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment

from monitor.domain.alert_rules import MAX_TEMPLATE, AlertRule
from monitor.domain.metrics import MAX_LABEL_VALUE_LENGTH

MAX_OUTPUT = 4000
VARIABLES = frozenset({"value", "labels", "threshold", "rule"})
# Filters whose work is bounded by their input (results are capped besides).
_PLAIN_FILTERS = (
    "abs",
    "capitalize",
    "default",
    "d",
    "first",
    "float",
    "int",
    "last",
    "length",
    "count",
    "lower",
    "round",
    "string",
    "title",
    "trim",
    "truncate",
    "upper",
)
FILTERS = (*_PLAIN_FILTERS, "join")
# Expression nodes (and `if`): nothing that loops, assigns, calls or includes.
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.Name,
    nodes.Const,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.Compare,
    nodes.Operand,
    nodes.CondExpr,
    nodes.Concat,
    nodes.BinExpr,
    nodes.UnaryExpr,
    nodes.Tuple,
    nodes.List,
    nodes.Dict,
    nodes.Pair,
    nodes.Keyword,
)


class TooLarge(SecurityError):
    pass


def _capped(result: Any) -> Any:
    if isinstance(result, str | list | tuple) and len(result) > MAX_OUTPUT:
        raise TooLarge(f"a result longer than {MAX_OUTPUT}")
    return result


def _capped_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        return _capped(function(*args, **kwargs))

    # Keep Jinja's pass_context/pass_environment marks, which it reads from the function.
    for mark in ("jinja_pass_arg",):
        if hasattr(function, mark):
            setattr(run, mark, getattr(function, mark))
    return run


def _join(items: Iterable[Any], separator: str = "") -> str:
    parts = [str(item) for item in list(items)[: MAX_OUTPUT + 1]]
    if sum(map(len, parts)) + len(separator) * max(len(parts) - 1, 0) > MAX_OUTPUT:
        raise TooLarge(f"a result longer than {MAX_OUTPUT}")
    return separator.join(parts)


class _AlertSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja's default is an Undefined that prints as "": refuse loudly instead.
        raise SecurityError(f"access to attribute {attribute[:40]!r} is not allowed")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            try:
                return float(left) ** float(right)
            except (OverflowError, ZeroDivisionError, TypeError, ValueError) as refused:
                raise SecurityError(f"cannot raise to that power: {refused}") from refused
        if operator == "*":
            for sized, times in ((left, right), (right, left)):
                sequence = isinstance(sized, str | list | tuple) and isinstance(times, int)
                if sequence and len(sized) * times > MAX_OUTPUT:
                    raise TooLarge(f"a result longer than {MAX_OUTPUT}")
            return _capped(left * right)
        return _capped(left + right)


def _printable(value: Any) -> Any:
    if callable(value) and not isinstance(value, Undefined):  # Undefined is callable too
        raise SecurityError("a method or function cannot be printed; calls are not allowed")
    return value


def _environment() -> _AlertSandbox:
    environment = _AlertSandbox(autoescape=False, finalize=_printable)
    environment.filters = {name: _capped_filter(JINJA_FILTERS[name]) for name in _PLAIN_FILTERS}
    environment.filters["join"] = _join
    environment.globals = {}
    environment.tests = dict(environment.tests)
    return environment


_ENVIRONMENT = _environment()


def _shape_problem(tree: nodes.Template) -> str | None:
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            return f"{type(node).__name__.lower()} is not allowed (only expressions and if)"
    for getattr_node in tree.find_all(nodes.Getattr):
        if getattr_node.attr.startswith("_"):
            return f"attribute {getattr_node.attr[:40]!r} is not allowed"
    unknown = {name.name for name in tree.find_all(nodes.Name)} - VARIABLES
    if unknown:
        return f"unknown variable {sorted(unknown)[0]!r}; known: {', '.join(sorted(VARIABLES))}"
    return None


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template | str:
    """The template, or why it is refused."""
    if len(source) > MAX_TEMPLATE:
        return f"at most {MAX_TEMPLATE} characters"
    try:
        problem = _shape_problem(_ENVIRONMENT.parse(source))
        if problem is not None:
            return problem
        return _ENVIRONMENT.from_string(source)
    except TemplateError as refused:
        return f"not a valid template: {refused.message or type(refused).__name__}"
    except (RecursionError, MemoryError, SyntaxError):
        return "not a valid template: nested too deeply"


def template_problem(source: str) -> str | None:
    """Why `source` is refused as a label or annotation template, or None.

    The rule parser's `check_template` (domain/alert_rules.py)."""
    compiled = _compiled(source)
    return compiled if isinstance(compiled, str) else None


@dataclass(frozen=True)
class Rendered:
    text: str  # the output, cut at MAX_OUTPUT ("" when the render failed)
    problem: str | None = None  # why the render failed


def render(
    source: str,
    *,
    value: float | None,
    labels: Mapping[str, str],
    threshold: float | None,
    rule: str,
) -> Rendered:
    """`source` rendered for one instance; a failure is reported, never raised."""
    compiled = _compiled(source)
    if isinstance(compiled, str):
        return Rendered("", compiled)
    context = {"value": value, "labels": dict(labels), "threshold": threshold, "rule": rule}
    pieces: list[str] = []
    size = 0
    try:
        for piece in compiled.generate(context):
            pieces.append(piece)
            size += len(piece)
            if size > MAX_OUTPUT:
                break
    except (TemplateError, ArithmeticError, TypeError, ValueError) as refused:
        return Rendered("", f"{type(refused).__name__}: {str(refused)[:200]}")
    text = "".join(pieces)
    return Rendered(text if len(text) <= MAX_OUTPUT else text[: MAX_OUTPUT - 1] + "…")


def render_all(
    templates: Iterable[tuple[str, str]],
    *,
    value: float | None,
    labels: Mapping[str, str],
    threshold: float | None,
    rule: str,
) -> dict[str, Rendered]:
    """Each (name, template) rendered, e.g. a rule's annotations for one instance."""
    return {
        name: render(source, value=value, labels=labels, threshold=threshold, rule=rule)
        for name, source in templates
    }


@dataclass(frozen=True)
class InstanceLabels:
    labels: dict[str, str]
    problems: dict[str, str]  # label name → why its template did not render (label left out)


def instance_labels(
    rule: AlertRule, group: Mapping[str, str], value: float | None
) -> InstanceLabels:
    """An instance's labels (issue 17): the group's, then the rule's (rendered; they
    overwrite a group label of the same name, as alerting rules' labels do in
    Prometheus), then `rule` (the rule's name) and `severity`, which nothing overrides."""
    labels: dict[str, str] = dict(group)
    problems: dict[str, str] = {}
    threshold = rule.condition().threshold
    for name, source in rule.labels:
        result = render(source, value=value, labels=group, threshold=threshold, rule=rule.name)
        if result.problem is None:
            labels[name] = result.text[:MAX_LABEL_VALUE_LENGTH]
        else:
            problems[name] = result.problem
    labels |= {"rule": rule.name, "severity": rule.severity}
    return InstanceLabels(labels, problems)
