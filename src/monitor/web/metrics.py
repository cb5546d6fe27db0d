"""Metric routes: ingest (acknowledged after commit), increments, queries, deletion."""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response, tag

from monitor.domain.intervals import parse_interval
from monitor.domain.keys import Role
from monitor.domain.metrics import (
    AGGREGATIONS,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    LabelMatcher,
    labels_problem,
)
from monitor.domain.query_times import parse_query_time
from monitor.messages import IncrementCounter, IngestSamples, SampleBatch
from monitor.storage import metric_query
from monitor.web.auth import require_role
from monitor.web.bulk_json import every_item_error, invalid, json_response, split_msgspec_error
from monitor.web.deps import current_deps
from monitor.web.ingest_client import submit
from monitor.web.metric_schemas import (
    Accepted,
    BulkSamplesIn,
    Incremented,
    IncrementIn,
    IncrementInDoc,
    LatestList,
    MetricNames,
    MetricQueryDoc,
    MetricSources,
    MetricStats,
    SampleIn,
    SampleInDoc,
    SamplesEnvelope,
    SamplesEnvelopeDoc,
    SampleWire,
    SeriesResult,
)
from monitor.web.problems import ProblemError
from monitor.web.request_body import read_json_body
from monitor.web.sample_batch import (
    SampleRules,
    TimeWindow,
    build_batch,
    series_key,
)

blueprint = Blueprint("metrics", __name__)

_decode_one = msgspec.json.Decoder(SampleIn).decode
_decode_wire = msgspec.json.Decoder(SampleWire).decode
_decode_bulk = msgspec.json.Decoder(BulkSamplesIn).decode
_decode_increment = msgspec.json.Decoder(IncrementIn).decode
MAX_POINTS = 11_000
NICE_INTERVALS = (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400)
DEFAULT_RANGE = timedelta(hours=1)


def _is_metric_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and re.fullmatch(NAME_PATTERN, name) is not None


def _every_item_error(body: bytes, window: TimeWindow) -> list[dict[str, Any]]:
    return every_item_error(body, "samples", _decode_one, SampleRules(window).errors)


def _errors_of_one(body: bytes, window: TimeWindow) -> list[dict[str, Any]]:
    try:
        sample = _decode_one(body)
    except msgspec.DecodeError as error:
        _, field, message = split_msgspec_error(error)
        return [{"field": field, "message": message}]
    return SampleRules(window).errors(None, sample)


async def _commit(batch: SampleBatch) -> None:
    deps = current_deps()
    await submit(
        deps.metric_writes,
        lambda reply: IngestSamples(batch, reply),
        deps.settings.ingest_timeout,
    )


def _invalid_or_bug(errors: list[dict[str, Any]]) -> ProblemError:
    if not errors:  # build_batch refused what SampleRules accepts: the two disagree
        raise RuntimeError("a sample was refused without a reason")
    return invalid(errors)


@blueprint.post("/metrics")
@require_role(Role.WRITE)
@tag(["metrics"])
@document_request(SampleInDoc)
@document_response(Accepted, 201)
async def ingest_one() -> Response:
    """Store one sample; answered after it is committed."""
    deps = current_deps()
    body = await read_json_body(deps.settings.max_decompressed_bytes)
    window = TimeWindow.at(datetime.now(UTC), deps.settings)
    try:
        sample = _decode_wire(body)
    except msgspec.DecodeError:
        raise invalid(_errors_of_one(body, window)) from None
    batch = build_batch([sample], window, deps.series_keys)
    if batch is None:
        raise _invalid_or_bug(_errors_of_one(body, window))
    await _commit(batch)
    return json_response({"accepted": 1}, 201)


@blueprint.post("/metrics/bulk")
@require_role(Role.WRITE)
@tag(["metrics"])
@document_request(SamplesEnvelopeDoc)
@document_response(Accepted, 201)
async def ingest_bulk() -> Response:
    """Store many samples (an array or `{"samples": [...]}`), all or nothing."""
    deps = current_deps()
    settings = deps.settings
    body = await read_json_body(settings.max_decompressed_bytes)
    window = TimeWindow.at(datetime.now(UTC), settings)
    try:
        decoded = _decode_bulk(body)
    except msgspec.DecodeError:
        raise invalid(_every_item_error(body, window)) from None
    samples = decoded.samples if isinstance(decoded, SamplesEnvelope) else decoded
    if len(samples) > settings.max_batch_items:
        raise ProblemError(
            413, f"{len(samples)} samples in one request; the limit is {settings.max_batch_items}"
        )
    if samples:
        batch = build_batch(samples, window, deps.series_keys)
        if batch is None:
            raise _invalid_or_bug(_every_item_error(body, window))
        await _commit(batch)
    return json_response({"accepted": len(samples)}, 201)


@blueprint.post("/metrics/increment/<name>")
@require_role(Role.WRITE)
@tag(["metrics"])
@document_request(IncrementInDoc)
@document_response(Incremented, 201)
async def increment(name: str) -> Response:
    """Record a counter sample at now: the series' previous value plus `by`, atomically."""
    deps = current_deps()
    if not _is_metric_name(name):
        raise invalid(
            [{"field": "name", "message": "must match [a-zA-Z_:][a-zA-Z0-9_:]*"}]
        ) from None
    body = await read_json_body(4096) if await request.get_data() else b"{}"  # body optional
    try:
        change = _decode_increment(body)
    except msgspec.DecodeError as error:
        raise invalid([{"field": "(body)", "message": str(error)}]) from None
    problem = labels_problem(change.labels)
    if problem is not None or not math.isfinite(change.by) or "\x00" in change.source:
        raise invalid([{"field": "labels" if problem else "by", "message": problem or "invalid"}])
    now = datetime.now(UTC)
    key = series_key(name, change.source, change.labels)
    outcome = await submit(
        deps.metric_writes,
        lambda reply: IncrementCounter(key, change.by, now, reply),
        deps.settings.ingest_timeout,
    )
    return json_response(
        {
            "name": name,
            "labels": dict(key.labels),
            "source": key.source,
            "value": outcome.value,
            "time": now,
        },
        201,
    )


def _matchers_and_unknown(allowed: set[str]) -> tuple[tuple[LabelMatcher, ...], list[str]]:
    matchers: list[LabelMatcher] = []
    unknown: list[str] = []
    for key in request.args:
        if key.startswith("label."):
            label = key[len("label.") :]
            equal = not label.endswith("!")
            label = label.rstrip("!")
            for value in request.args.getlist(key):
                matchers.append(LabelMatcher(label, value, equal))
        elif key not in allowed:
            unknown.append(key)
    return tuple(sorted(matchers, key=lambda m: (m.name, m.value, m.equal))), unknown


def _time(name: str, errors: list[dict[str, Any]]) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return parse_query_time(raw)
    except ValueError as problem:
        errors.append({"field": name, "message": str(problem)})
        return None


def _auto_interval(span: timedelta) -> timedelta:
    seconds = span.total_seconds() / 300
    return timedelta(seconds=next((n for n in NICE_INTERVALS if n >= seconds), 86400))


@blueprint.get("/metrics")
@require_role(Role.READ)
@tag(["metrics"])
@document_querystring(MetricQueryDoc)
@document_response(SeriesResult, 200)
async def query() -> Response:
    """Aggregated points per group, buckets aligned to the Unix epoch.

    Label matchers: `label.<k>=v`, and `label.<k>!=v` (which also matches
    series without the label). More than 11,000 points per series → 400.
    """
    errors: list[dict[str, Any]] = []
    matchers, unknown = _matchers_and_unknown(
        {"name", "from", "to", "interval", "aggregation", "group_by"}
    )
    errors.extend({"field": key, "message": "is not a known parameter"} for key in unknown)
    name = request.args.get("name", "")
    if not _is_metric_name(name):
        errors.append({"field": "name", "message": "required; must match [a-zA-Z_:][a-zA-Z0-9_:]*"})
    aggregation = request.args.get("aggregation", "avg")
    if aggregation not in AGGREGATIONS:
        errors.append(
            {"field": "aggregation", "message": f"must be one of {', '.join(AGGREGATIONS)}"}
        )
    group_by = tuple(
        label.strip() for label in request.args.get("group_by", "").split(",") if label.strip()
    )
    if labels_problem({label: "" for label in group_by}):
        errors.append({"field": "group_by", "message": "label names, comma-separated"})
    if any(labels_problem({m.name: m.value}) for m in matchers):
        errors.append({"field": "label", "message": "label.<name>=value with a valid name"})
    now = datetime.now(UTC)
    time_to = _time("to", errors) or now
    time_from = _time("from", errors) or time_to - DEFAULT_RANGE
    if time_from >= time_to:
        errors.append({"field": "to", "message": "must be after from"})
    interval = _auto_interval(time_to - time_from)
    if request.args.get("interval"):
        try:
            interval = parse_interval(request.args["interval"])
        except ValueError as problem:
            errors.append({"field": "interval", "message": str(problem)})
    if not errors and (time_to - time_from) / interval > MAX_POINTS:
        errors.append(
            {
                "field": "interval",
                "message": f"gives more than {MAX_POINTS} points per series; use a wider interval",
            }
        )
    if errors:
        raise invalid(errors)
    groups = await metric_query.query_series(
        current_deps().gateway,
        metric_query.SeriesQuery(
            name=name,
            matchers=matchers,
            time_from=time_from,
            time_to=time_to,
            interval=interval,
            aggregation=aggregation,
            group_by=group_by,
        ),
    )
    return json_response(
        {
            "name": name,
            "aggregation": aggregation,
            "interval_s": int(interval.total_seconds()),
            "from": time_from,
            "to": time_to,
            "series": [{"labels": g.labels, "points": g.points} for g in groups],
        }
    )


@blueprint.get("/metrics/latest")
@require_role(Role.READ)
@tag(["metrics"])
@document_response(LatestList, 200)
async def latest() -> Response:
    """The latest value of each series; filter by `name`, `source` and label matchers."""
    matchers, unknown = _matchers_and_unknown({"name", "source", "limit"})
    if unknown:
        raise invalid([{"field": key, "message": "is not a known parameter"} for key in unknown])
    try:
        limit = int(request.args.get("limit", "1000"))
        if not 1 <= limit <= 10_000:
            raise ValueError
    except ValueError:
        raise invalid([{"field": "limit", "message": "a whole number from 1 to 10000"}]) from None
    found = await metric_query.latest_values(
        current_deps().gateway,
        name=request.args.get("name"),
        source=request.args.get("source"),
        matchers=matchers,
        limit=limit,
    )
    return json_response({"series": found})  # msgspec encodes the dataclasses directly


@blueprint.get("/metrics/names")
@require_role(Role.READ)
@tag(["metrics"])
@document_response(MetricNames, 200)
async def names() -> Response:
    found = await metric_query.metric_names(current_deps().gateway)
    return json_response(
        {"metrics": [{"name": n, "type": t, "unit": u, "series": c} for n, t, u, c in found]}
    )


@blueprint.get("/metrics/sources")
@require_role(Role.READ)
@tag(["metrics"])
@document_response(MetricSources, 200)
async def sources() -> Response:
    return json_response({"sources": await metric_query.metric_sources(current_deps().gateway)})


@blueprint.get("/metrics/stats")
@require_role(Role.READ)
@tag(["metrics"])
@document_response(MetricStats, 200)
async def stats() -> Response:
    deps = current_deps()
    counts = await metric_query.metric_stats(deps.gateway)
    uptime = max(1.0, (datetime.now(UTC).timestamp() - deps.started_at))
    ingest = dataclasses.asdict(deps.metric_counters)
    ingest["samples_per_s_since_start"] = round(ingest["samples"] / uptime, 1)
    return json_response({**counts, "ingest": ingest})


@blueprint.delete("/metrics/<int:series_id>")
@require_role(Role.ADMIN)
@tag(["metrics"])
async def delete(series_id: int) -> Response:
    """Delete a series and its samples (admin). No instance serves it from a cache after."""
    if series_id > 2**31 - 1 or not await metric_query.delete_series(
        current_deps().gateway, series_id
    ):
        raise ProblemError(404, f"no series with id {series_id}", kind="not-found")
    return Response(b"", status=204)
