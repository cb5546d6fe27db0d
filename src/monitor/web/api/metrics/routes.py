"""Metric routes: ingest (acknowledged after commit), increments, queries, deletion."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

import msgspec
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response, tag

from monitor.domain.durations import format_duration
from monitor.domain.keys import Role
from monitor.domain.metrics import (
    LABEL_NAME_PATTERN,
    MAX_LABEL_VALUE_LENGTH,
    labels_problem,
)
from monitor.domain.query_values import whole_number
from monitor.domain.rows import SampleBatch
from monitor.messages import IncrementCounter, IngestSamples
from monitor.storage import metric_query
from monitor.web.api.bulk_json import every_item_error, invalid, json_response, split_msgspec_error
from monitor.web.api.ingest_client import submit
from monitor.web.api.metrics.query import (
    is_metric_name,
    matchers_and_unknown,
    parse_series_query,
)
from monitor.web.api.metrics.samples import (
    MAX_SOURCE_LENGTH,
    SampleRules,
    TimeWindow,
    build_batch,
    series_key,
)
from monitor.web.api.metrics.schemas import (
    Accepted,
    BulkSamplesIn,
    Incremented,
    IncrementIn,
    IncrementInDoc,
    LabelNames,
    LabelNamesQueryDoc,
    LabelValues,
    LabelValuesQueryDoc,
    LatestList,
    LatestQueryDoc,
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
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import decodes_body_encoding, invalid_query
from monitor.web.edge.request_body import read_json_body

blueprint = Blueprint("metrics", __name__)

_decode_one = msgspec.json.Decoder(SampleIn).decode
_decode_wire = msgspec.json.Decoder(SampleWire).decode
_decode_bulk = msgspec.json.Decoder(BulkSamplesIn).decode
_decode_increment = msgspec.json.Decoder(IncrementIn).decode


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
        deps.metrics.writes,
        lambda reply: IngestSamples(batch, reply),
        deps.settings.ingest_timeout.total_seconds(),
    )


def _invalid_or_bug(errors: list[dict[str, Any]]) -> ProblemError:
    if not errors:  # build_batch refused what SampleRules accepts: the two disagree
        raise RuntimeError("a sample was refused without a reason")
    return invalid(errors)


@blueprint.post("/metrics")
@decodes_body_encoding
@require_role(Role.INGEST)
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
    batch = build_batch([sample], window, deps.metrics.series_keys)
    if batch is None:
        raise _invalid_or_bug(_errors_of_one(body, window))
    await _commit(batch)
    return json_response({"accepted": 1}, 201)


@blueprint.post("/metrics/bulk")
@decodes_body_encoding
@require_role(Role.INGEST)
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
        batch = build_batch(samples, window, deps.metrics.series_keys)
        if batch is None:
            raise _invalid_or_bug(_every_item_error(body, window))
        await _commit(batch)
    return json_response({"accepted": len(samples)}, 201)


@blueprint.post("/metrics/increment/<name>")
@decodes_body_encoding
@require_role(Role.INGEST)
@tag(["metrics"])
@document_request(IncrementInDoc)
@document_response(Incremented, 201)
async def increment(name: str) -> Response:
    """Record a counter sample at now: the series' previous value plus `by`, atomically."""
    deps = current_deps()
    if not is_metric_name(name):
        raise invalid(
            [{"field": "name", "message": "must match [a-zA-Z_:][a-zA-Z0-9_:]*"}]
        ) from None
    body = await read_json_body(4096) if await request.get_data() else b"{}"  # body optional
    try:
        change = _decode_increment(body)
    except msgspec.DecodeError as error:
        raise invalid([{"field": "(body)", "message": str(error)}]) from None
    errors: list[dict[str, Any]] = []
    problem = labels_problem(change.labels)
    if problem is not None:
        errors.append({"field": "labels", "message": problem})
    if not math.isfinite(change.by):
        errors.append({"field": "by", "message": "must be a finite number"})
    if "\x00" in change.source:
        errors.append({"field": "source", "message": "must not contain NUL characters"})
    if errors:
        raise invalid(errors)
    now = datetime.now(UTC)
    key = series_key(name, change.source, change.labels)
    outcome = await submit(
        deps.metrics.writes,
        lambda reply: IncrementCounter(key, change.by, now, reply),
        deps.settings.ingest_timeout.total_seconds(),
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
    series_query = parse_series_query(request.args, datetime.now(UTC))
    groups = await metric_query.query_series(current_deps().gateway, series_query)
    return json_response(
        {
            "name": series_query.name,
            "aggregation": series_query.aggregation,
            "interval": format_duration(series_query.interval),
            "interval_s": int(series_query.interval.total_seconds()),
            "from": series_query.time_from,
            "to": series_query.time_to,
            "series": [{"labels": g.labels, "points": g.points} for g in groups],
        }
    )


@blueprint.get("/metrics/latest")
@require_role(Role.READ)
@tag(["metrics"])
@document_querystring(LatestQueryDoc)
@document_response(LatestList, 200)
async def latest() -> Response:
    """The latest value of each series; filter by `name`, `source` and label matchers."""
    errors: list[dict[str, Any]] = []
    matchers, unknown = matchers_and_unknown(
        request.args, frozenset({"name", "source", "limit"}), errors
    )
    errors.extend({"field": key, "message": "is not a known parameter"} for key in unknown)
    name = request.args.get("name") or None
    if name is not None and not is_metric_name(name):
        errors.append({"field": "name", "message": "must match [a-zA-Z_:][a-zA-Z0-9_:]*"})
    source = request.args.get("source")
    if source is not None and len(source) > MAX_SOURCE_LENGTH:
        errors.append({"field": "source", "message": f"at most {MAX_SOURCE_LENGTH} characters"})
    limit = 1000
    try:
        limit = whole_number(request.args.get("limit", "1000"), 1, 10_000)
    except ValueError as problem:
        errors.append({"field": "limit", "message": str(problem)})
    if errors:
        raise invalid_query(errors)
    found = await metric_query.latest_values(
        current_deps().gateway,
        name=name,
        source=source,
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


MAX_LABELS_LISTED = 1000


def _series_filters(
    allowed: set[str], errors: list[dict[str, Any]]
) -> tuple[str | None, str | None, int]:
    """`name`, `source` and `limit` of the label routes; every other parameter not in
    `allowed` is an error."""
    errors.extend(
        {"field": key, "message": "is not a known parameter"}
        for key in request.args
        if key not in allowed | {"name", "source", "limit"}
    )
    name = request.args.get("name") or None
    if name is not None and not is_metric_name(name):
        errors.append({"field": "name", "message": "must match [a-zA-Z_:][a-zA-Z0-9_:]*"})
    source = request.args.get("source")
    if source is not None and len(source) > MAX_SOURCE_LENGTH:
        errors.append({"field": "source", "message": f"at most {MAX_SOURCE_LENGTH} characters"})
    limit = 100
    try:
        limit = whole_number(request.args.get("limit", "100"), 1, MAX_LABELS_LISTED)
    except ValueError as problem:
        errors.append({"field": "limit", "message": str(problem)})
    return name, source, limit


@blueprint.get("/metrics/labels")
@require_role(Role.READ)
@tag(["metrics"])
@document_querystring(LabelNamesQueryDoc)
@document_response(LabelNames, 200)
async def label_names() -> Response:
    """The label names of live series: of one metric (`name`), one `source`, or all.

    Sorted by code point, at most `limit` (default 100, at most 1000);
    `truncated` says whether more exist.
    """
    errors: list[dict[str, Any]] = []
    name, source, limit = _series_filters(set(), errors)
    if errors:
        raise invalid_query(errors)
    found = await metric_query.label_names(
        current_deps().gateway, name=name, source=source, limit=limit
    )
    return json_response({"labels": found.items, "truncated": found.truncated})


@blueprint.get("/metrics/labels/<label>/values")
@require_role(Role.READ)
@tag(["metrics"])
@document_querystring(LabelValuesQueryDoc)
@document_response(LabelValues, 200)
async def label_values(label: str) -> Response:
    """The distinct values of one label among live series, optionally of one metric
    (`name`), one `source`, and starting with `match`.

    Sorted by code point, at most `limit` (default 100, at most 1000);
    `truncated` says whether more exist. A label name outside
    `[a-zA-Z_][a-zA-Z0-9_]*` (at most 100 characters) is a 400.
    """
    errors: list[dict[str, Any]] = []
    if labels_problem({label: ""}) is not None:
        errors.append(
            {"field": "label", "message": f"must match {LABEL_NAME_PATTERN} (at most 100)"}
        )
    name, source, limit = _series_filters({"match"}, errors)
    prefix = request.args.get("match", "")
    if len(prefix) > MAX_LABEL_VALUE_LENGTH:
        errors.append({"field": "match", "message": f"at most {MAX_LABEL_VALUE_LENGTH} characters"})
    if errors:
        raise invalid_query(errors)
    found = await metric_query.label_values(
        current_deps().gateway, label=label, name=name, source=source, prefix=prefix, limit=limit
    )
    return json_response({"label": label, "values": found.items, "truncated": found.truncated})


@blueprint.get("/metrics/stats")
@require_role(Role.READ)
@tag(["metrics"])
@document_response(MetricStats, 200)
async def stats() -> Response:
    deps = current_deps()
    counts = await metric_query.metric_stats(deps.gateway)
    uptime = max(1.0, (datetime.now(UTC).timestamp() - deps.health.started_at))
    ingest = dataclasses.asdict(deps.metrics.counters)
    ingest["samples_per_s_since_start"] = round(ingest["samples"] / uptime, 1)
    return json_response({**counts, "ingest": ingest})


@blueprint.delete("/metrics/<int:series_id>")
@require_role(Role.ADMIN)
@tag(["metrics"])
async def delete(series_id: int) -> Response:
    """Delete a series and its samples (admin). No instance serves it from a cache after."""
    if series_id > 2**31 - 1 or not await metric_query.delete_series(
        current_deps().gateway, series_id, by=request_attribution()
    ):
        raise ProblemError(404, f"no series with id {series_id}", kind="not-found")
    return Response(b"", status=204)
