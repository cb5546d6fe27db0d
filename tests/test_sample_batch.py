"""The fast column-wise sample check agrees with the item-by-item rules.

build_batch decides whether a bulk request is valid; SampleRules (through
every_item_error) names what is wrong. If they disagreed, a request would be
refused without reasons, or an invalid sample stored.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import event, given, settings
from hypothesis import strategies as st

from monitor.config import load_settings
from monitor.web.api.bulk_json import every_item_error
from monitor.web.api.metrics.samples import (
    SampleRules,
    SeriesKeys,
    TimeWindow,
    build_batch,
    series_key,
)
from monitor.web.api.metrics.schemas import BulkSamplesIn, SampleIn, SamplesEnvelope

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow.at(NOW, load_settings({}))
_decode_bulk = msgspec.json.Decoder(BulkSamplesIn).decode
_decode_one = msgspec.json.Decoder(SampleIn).decode


def mostly(valid: list[Any], invalid: list[Any]) -> st.SearchStrategy[Any]:
    """Valid choices nine times as likely, so that whole requests are often valid."""
    return st.sampled_from(valid * 9 * max(1, len(invalid)) + invalid * len(valid))


names = mostly(["cpu", "jobs_total", "a:b"], ["bad name", "9lives", "x" * 201, "é", ""])
label_names = mostly(["host", "route", "le"], ["1bad", ""])
label_values = mostly(["a", "b", "node-1"], ["nul\x00", "v" * 300])
in_window = st.integers(-10 * 86_400, 600).map(
    lambda seconds: (NOW + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
)
times = st.one_of(
    st.none(),
    in_window,
    in_window,
    st.sampled_from(
        [
            "2026-06-01T13:00:00+02:00",  # an offset: the same instant in UTC
            "2026-06-01T12:00:00",  # no time zone
            "yesterday",
            "2026-06-01",
        ]
    ),
)
values = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(-1e12, 1e12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, sys.float_info.min / 4, -sys.float_info.min / 2, 1e308, -1e308]),
)
samples = st.fixed_dictionaries(
    {"name": names, "value": values},
    optional={
        "type": mostly(["gauge"], ["summary"]),
        "labels": st.dictionaries(label_names, label_values, max_size=3),
        "source": mostly(["", "web-1"], ["nul\x00", "s" * 201]),
        "unit": mostly(["ms"], ["", "u" * 51, "nul\x00"]),
        "time": times,
    },
)


def _slow_errors(body: bytes) -> list[dict[str, Any]]:
    return every_item_error(body, "samples", _decode_one, SampleRules(WINDOW).errors)


@settings(max_examples=300)
@given(st.lists(samples, min_size=1, max_size=6), st.booleans())
def test_fast_check_refuses_exactly_what_the_rules_refuse(
    items: list[dict[str, Any]], envelope: bool
) -> None:
    body = msgspec.json.encode({"samples": items} if envelope else items)
    errors = _slow_errors(body)
    try:
        decoded = _decode_bulk(body)
    except msgspec.DecodeError:
        assert errors, "the first decode refused a body the rules accept"
        return
    wire = decoded.samples if isinstance(decoded, SamplesEnvelope) else decoded
    batch = build_batch(wire, WINDOW, SeriesKeys())
    assert (batch is None) == bool(errors), errors
    event("refused" if errors else "accepted")
    if batch is None:
        return
    got = [(point.key, point.time, point.value) for point in batch.points()]
    expected = []
    for item in items:
        one = _decode_one(msgspec.json.encode(item))
        moment = NOW if one.time is None else one.time.astimezone(UTC)
        expected.append((series_key(one.name, one.source, one.labels), moment, one.value))
    assert got == expected
    assert batch.earliest == min(t for _, t, _ in expected)
    assert batch.latest == max(t for _, t, _ in expected)


def test_a_memo_that_fills_up_starts_again_and_still_answers() -> None:
    memo = SeriesKeys(capacity=2)
    for number in range(5):
        item = {"name": "cpu", "value": 1, "labels": {"host": f"h{number}"}}
        batch = build_batch(_decode_bulk(msgspec.json.encode([item])), WINDOW, memo)
        assert batch is not None
        assert batch.keys[0].labels == (("host", f"h{number}"),)
