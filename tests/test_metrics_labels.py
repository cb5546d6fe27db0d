"""GET /api/v1/metrics/labels and /labels/{label}/values: what the metrics explorer offers."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ThreadedService

PROBLEM = "application/problem+json"
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def metric_name() -> str:
    return f"labels_{uuid.uuid4().hex[:12]}"


def code_point_sorted(texts: list[str]) -> list[str]:
    return sorted(set(texts))  # Python compares str by code point


async def ingest(client: httpx.AsyncClient, token: str, samples: list[dict[str, Any]]) -> None:
    response = await client.post("/api/v1/metrics/bulk", headers={"X-API-Key": token}, json=samples)
    assert response.status_code == 201, response.text


async def get(client: httpx.AsyncClient, token: str, path: str, **params: str) -> httpx.Response:
    return await client.get(f"/api/v1/metrics{path}", headers={"X-API-Key": token}, params=params)


async def test_the_label_names_of_a_metric_sorted_and_distinct(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    name = metric_name()
    source = f"src-{uuid.uuid4().hex[:6]}"
    await ingest(
        client,
        admin_token,
        [
            {"name": name, "value": 1, "labels": {"zone": "a", "host": "h1"}, "source": source},
            {"name": name, "value": 2, "labels": {"host": "h2", "Disk": "sda"}},
            {"name": name, "value": 3, "labels": {"_private": "x", "host": "h3"}},
            {"name": metric_name(), "value": 4, "labels": {"other_metric_only": "y"}},
        ],
    )
    answer = (await get(client, admin_token, "/labels", name=name)).json()
    # Code point order: upper case before `_` before lower case.
    assert answer == {"labels": ["Disk", "_private", "host", "zone"], "truncated": False}
    by_source = (await get(client, admin_token, "/labels", name=name, source=source)).json()
    assert by_source == {"labels": ["host", "zone"], "truncated": False}
    assert (await get(client, admin_token, "/labels", source=source)).json()["labels"] == [
        "host",
        "zone",
    ]
    cut = (await get(client, admin_token, "/labels", name=name, limit="2")).json()
    assert cut == {"labels": ["Disk", "_private"], "truncated": True}
    exact = (await get(client, admin_token, "/labels", name=name, limit="4")).json()
    assert exact["truncated"] is False
    unknown = (await get(client, admin_token, "/labels", name=metric_name())).json()
    assert unknown == {"labels": [], "truncated": False}
    everything = (await get(client, admin_token, "/labels", limit="1000")).json()
    assert {"Disk", "_private", "host", "zone", "other_metric_only"} <= set(everything["labels"])
    assert everything["labels"] == code_point_sorted(everything["labels"])


async def test_the_values_of_a_label_sorted_distinct_and_literal(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    name = metric_name()
    values = [
        "web-2",
        "web-10",
        "Web-1",
        "éclair",
        "zoë",
        "😀 smile",
        "'; drop table series; --",
        "50%_off\\",
        "50x_off",
        "",
        "web-2",  # the same value on another series (another source)
    ]
    await ingest(
        client,
        admin_token,
        [
            {"name": name, "value": n, "labels": {"host": v, "n": str(n)}, "source": str(n % 2)}
            for n, v in enumerate(values)
        ]
        + [{"name": name, "value": 0, "labels": {"n": "no host"}}],
    )
    answer = (await get(client, admin_token, "/labels/host/values", name=name)).json()
    assert answer == {"label": "host", "values": code_point_sorted(values), "truncated": False}
    # `match` is a plain prefix: % and _ are themselves, not wildcards.
    percent = (await get(client, admin_token, "/labels/host/values", name=name, match="50%")).json()
    assert percent["values"] == ["50%_off\\"]
    assert (await get(client, admin_token, "/labels/host/values", name=name, match="web-")).json()[
        "values"
    ] == ["web-10", "web-2"]
    assert (await get(client, admin_token, "/labels/host/values", name=name, match="😀")).json()[
        "values"
    ] == ["😀 smile"]
    one_source = await get(client, admin_token, "/labels/host/values", name=name, source="1")
    assert one_source.json()["values"] == code_point_sorted(values[1::2])
    cut = (await get(client, admin_token, "/labels/host/values", name=name, limit="3")).json()
    assert cut == {"label": "host", "values": code_point_sorted(values)[:3], "truncated": True}
    absent = (await get(client, admin_token, "/labels/nothing_here/values", name=name)).json()
    assert absent == {"label": "nothing_here", "values": [], "truncated": False}
    # Without `name`, across every metric.
    anywhere = await get(client, admin_token, "/labels/host/values", match="😀", limit="1000")
    assert "😀 smile" in anywhere.json()["values"]


async def test_a_deleted_series_offers_its_labels_no_more(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    name = metric_name()
    await ingest(
        client,
        admin_token,
        [
            {"name": name, "value": 1, "labels": {"host": "kept"}},
            {"name": name, "value": 1, "labels": {"host": "gone", "rack": "r1"}},
        ],
    )
    latest = (await get(client, admin_token, "/latest", name=name, **{"label.host": "gone"})).json()
    series_id = latest["series"][0]["series_id"]
    deleted = await client.delete(
        f"/api/v1/metrics/{series_id}", headers={"X-API-Key": admin_token}
    )
    assert deleted.status_code == 204
    assert (await get(client, admin_token, "/labels", name=name)).json()["labels"] == ["host"]
    values = (await get(client, admin_token, "/labels/host/values", name=name)).json()
    assert values["values"] == ["kept"]


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert field in [error["field"] for error in body["errors"]], body
    assert "stored" not in body["detail"]


@pytest.mark.parametrize(
    "label",
    [
        "bad-label",
        "1starts_with_digit",
        "ключ",
        "host😀",
        "a" * 101,
        "x'; drop table series; --",
        "a b",
        "a.b",
        "\x00",
        "%",
        "label\u202e",
    ],
)
async def test_a_label_name_outside_the_charset_is_a_400(
    client: httpx.AsyncClient, admin_token: str, label: str
) -> None:
    response = await client.get(
        f"/api/v1/metrics/labels/{quote(label, safe='')}/values",
        headers={"X-API-Key": admin_token},
    )
    assert_refused(response, "label")


@pytest.mark.parametrize("path", ["/labels", "/labels/host/values"])
@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "-1"),
        ("limit", "1e3"),
        ("limit", "ten"),
        ("limit", "99999999999999999999999"),
        ("name", "has-dash"),
        ("name", "x" * 201),
        ("name", "名前"),
        ("name", "up' or '1'='1"),
        ("source", "s" * 201),
        ("label.host", "a"),
        ("nonsense", "1"),
        ("from", "2026-01-01T00:00:00Z"),
    ],
)
async def test_bad_or_unknown_parameters_are_a_400(
    client: httpx.AsyncClient, admin_token: str, path: str, parameter: str, value: str
) -> None:
    assert_refused(await get(client, admin_token, path, **{parameter: value}), parameter)


async def test_match_is_bounded_and_only_for_values(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    assert_refused(await get(client, admin_token, "/labels/host/values", match="m" * 201), "match")
    assert_refused(await get(client, admin_token, "/labels", match="web"), "match")
    fine = await get(client, admin_token, "/labels/host/values", match="m" * 200, limit="1000")
    assert fine.status_code == 200
    assert fine.json()["values"] == []


async def test_the_most_that_can_be_asked_is_answered(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    name = metric_name()
    await ingest(
        client,
        admin_token,
        [{"name": name, "value": 1, "labels": {f"l{n:02}": "v"}} for n in range(20)]
        + [{"name": name, "value": 1, "labels": {"host": f"h{n:04}"}} for n in range(1001)],
    )
    names = (await get(client, admin_token, "/labels", name=name, limit="1000")).json()
    assert len(names["labels"]) == 21
    values = await get(client, admin_token, "/labels/host/values", name=name, limit="1000")
    assert values.json()["truncated"] is True
    assert values.json()["values"] == [f"h{n:04}" for n in range(1000)]


def test_any_label_in_the_path_is_answered_without_a_server_error(
    threaded_service: ThreadedService,
) -> None:
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=30) as client:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            label=st.text(min_size=1, max_size=120)
            | st.from_regex(LABEL_NAME, fullmatch=True).filter(lambda s: len(s) <= 100),
            match=st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
        )
        def check(label: str, match: str) -> None:
            encoded = quote(label.encode("utf-8", "surrogatepass"), safe="")
            response = client.get(
                f"/api/v1/metrics/labels/{encoded}/values", params={"match": match}
            )
            valid = LABEL_NAME.fullmatch(label) is not None and len(label) <= 100
            if valid and "\x00" not in match:
                assert response.status_code == 200, response.text
                assert response.json()["label"] == label
            else:
                # 404: a label the path cannot hold ("/", "." and ".." segments).
                assert response.status_code in (400, 404), response.text
                assert response.headers["content-type"] == PROBLEM

        check()
