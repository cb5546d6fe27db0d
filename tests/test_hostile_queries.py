"""Hostile query strings: every filter of every route answers 400 naming the parameter.

The reported cases are checked one by one; then hypothesis sends hostile
values to every GET route in /openapi.json (so a new route is covered without
touching this file) and asserts there is never a 5xx, and that every 4xx the
application writes is a problem document.
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MakeKey, RunningService, ThreadedService

PROBLEM = "application/problem+json"


def encoded(text: str) -> str:
    """Percent-encoded UTF-8; lone surrogates go out as their raw (invalid) bytes."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def query_string(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{encoded(name)}={encoded(value)}" for name, value in pairs)


def assert_refused(response: httpx.Response, parameter: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert parameter in [error["field"] for error in body.get("errors", [])], body
    assert "stored" not in body["detail"], body  # a query stores nothing, so says nothing of it
    return body


# --- the reported cases ---------------------------------------------------------------


@pytest.mark.parametrize("number", ["1e309", "-1e309", "1E400"])
@pytest.mark.parametrize("path", ["/events", "/events/stats", "/events/groups"])
async def test_an_attribute_number_out_of_range_is_a_400(
    client: httpx.AsyncClient, admin_token: str, number: str, path: str
) -> None:
    response = await client.get(
        f"/api/v1{path}", params={"attr.status": number}, headers={"X-API-Key": admin_token}
    )
    body = assert_refused(response, "attr.status")
    assert "finite" in json.dumps(body["errors"])


@pytest.mark.parametrize(
    "parameter", ["name", "source", "label.host", "label.host!", "limit", "nonsense"]
)
async def test_nul_in_any_latest_filter_is_a_400(
    client: httpx.AsyncClient, admin_token: str, parameter: str
) -> None:
    nul = query_string([(parameter, "a\x00b")])
    response = await client.get(f"/api/v1/metrics/latest?{nul}", headers={"X-API-Key": admin_token})
    assert_refused(response, parameter)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/events",
        "/api/v1/events/stats",
        "/api/v1/events/groups",
        "/api/v1/metrics",
        "/api/v1/metrics/latest",
        "/api/v1/metrics/names",
        "/api/v1/keys",
        "/health",
    ],
)
@pytest.mark.parametrize(
    ("value", "says"),
    [
        pytest.param("a\x00b", "NUL", id="nul"),
        pytest.param("\ud800", "UTF-8", id="surrogate"),
        pytest.param("x" * 5000, "characters", id="long"),
    ],
)
async def test_the_query_string_is_checked_on_every_route(
    client: httpx.AsyncClient, admin_token: str, path: str, value: str, says: str
) -> None:
    response = await client.get(
        f"{path}?{query_string([('source', value)])}", headers={"X-API-Key": admin_token}
    )
    body = assert_refused(response, "source")
    assert says in body["errors"][0]["message"]


async def test_too_many_parameters_is_a_400(client: httpx.AsyncClient, admin_token: str) -> None:
    pairs = [("type", f"t{i}") for i in range(101)]
    response = await client.get(
        f"/api/v1/events?{query_string(pairs)}", headers={"X-API-Key": admin_token}
    )
    assert_refused(response, "type")
    # Comma-separated lists count too, so splitting does not get around the bound.
    listed = ",".join(f"t{i}" for i in range(101))
    response = await client.get(
        "/api/v1/events", params={"type": listed}, headers={"X-API-Key": admin_token}
    )
    assert_refused(response, "type")


async def raw_exchange(running: RunningService, head: bytes) -> tuple[bytes, bytes]:
    """Send a request head by hand (httpx refuses URLs over 64 KiB); the answer's head and
    body (Content-Length bytes of it)."""
    port = int(running.base_url.rsplit(":", 1)[1])
    answer = b""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(head)
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                answer += chunk
                response_head, _, body = answer.partition(b"\r\n\r\n")
                length = re.search(rb"(?im)^content-length: *(\d+)", response_head)
                if length and len(body) >= int(length[1]):
                    break
    response_head, _, body = answer.partition(b"\r\n\r\n")
    return response_head, body


async def test_a_websocket_upgrade_checks_its_query_string_too(running: RunningService) -> None:
    head, body = await raw_exchange(
        running,
        b"GET /ws?apiKey=a%00b HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    assert head.startswith(b"HTTP/1.1 400"), head
    assert json.loads(body)["errors"][0]["field"] == "apiKey"


async def test_a_value_past_the_request_head_limit_is_refused_before_the_application(
    running: RunningService, admin_token: str
) -> None:
    head, body = await raw_exchange(
        running,
        b"GET /api/v1/events?source=" + b"x" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n"
        b"X-API-Key: " + admin_token.encode() + b"\r\n\r\n",
    )
    # Hypercorn's limit on the request head (16 KiB): no body, so nothing to misread.
    assert head.startswith(b"HTTP/1.1 431"), head
    assert body == b""


async def test_a_query_error_does_not_claim_anything_was_stored(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    response = await client.get(
        "/api/v1/metrics", params={"name": "1bad"}, headers={"X-API-Key": admin_token}
    )
    body = assert_refused(response, "name")
    assert body["detail"] == "the query is invalid"


async def test_too_many_buckets_says_what_to_change(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    headers = {"X-API-Key": admin_token}
    wide = {"from": "1970-01-02T00:00:00Z", "to": "8999-01-01T00:00:00Z"}
    # No interval given: the default one is named, and both ways out.
    events = await client.get("/api/v1/events/stats", params=wide, headers=headers)
    message = assert_refused(events, "interval")["errors"][0]["message"]
    assert "default interval of 1h" in message and "shorter range" in message
    assert re.search(r"`interval` such as \d+d", message), message
    # Given: a wider one, or a shorter range.
    given_ = await client.get(
        "/api/v1/events/stats", params={**wide, "interval": "1d"}, headers=headers
    )
    message = assert_refused(given_, "interval")["errors"][0]["message"]
    assert "interval 1d gives" in message and "a wider interval" in message
    # Metrics choose their default interval, so the default always fits.
    name = f"test_{uuid.uuid4().hex[:12]}"
    chosen = await client.get("/api/v1/metrics", params={**wide, "name": name}, headers=headers)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["interval_s"] % 86400 == 0
    given_ = await client.get(
        "/api/v1/metrics", params={**wide, "name": name, "interval": "1h"}, headers=headers
    )
    message = assert_refused(given_, "interval")["errors"][0]["message"]
    assert "interval 1h gives" in message and "a wider interval" in message


async def test_nul_in_a_sample_unit_names_the_unit(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    headers = {"X-API-Key": admin_token}
    name = f"test_{uuid.uuid4().hex[:12]}"
    one = await client.post(
        "/api/v1/metrics", json={"name": name, "value": 1, "unit": "m\x00s"}, headers=headers
    )
    assert [(e["field"]) for e in assert_stored_nothing(one)["errors"]] == ["unit"]
    bulk = await client.post(
        "/api/v1/metrics/bulk",
        json=[{"name": name, "value": 1}, {"name": name, "value": 1, "unit": "m\x00s"}],
        headers=headers,
    )
    assert [(e["index"], e["field"]) for e in assert_stored_nothing(bulk)["errors"]] == [
        (1, "unit")
    ]
    names = await client.get("/api/v1/metrics/names", headers=headers)
    assert name not in [metric["name"] for metric in names.json()["metrics"]]


def assert_stored_nothing(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert "nothing was stored" in body["detail"]
    return body


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
async def test_an_encoded_body_to_a_management_route_is_a_415(
    client: httpx.AsyncClient, admin_token: str, encoding: str
) -> None:
    headers = {"X-API-Key": admin_token}
    before = (await client.get("/api/v1/keys", headers=headers)).json()["keys"]
    name = f"gz {uuid.uuid4().hex[:6]}"
    response = await client.post(
        "/api/v1/keys",
        content=gzip.compress(json.dumps({"name": name, "role": "read"}).encode()),
        headers={**headers, "Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == PROBLEM
    assert encoding in response.json()["detail"]
    assert (await client.get("/api/v1/keys", headers=headers)).json()["keys"] == before


async def test_the_ingest_routes_still_take_gzip(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    _, token = await make_key("write")
    name = f"test_{uuid.uuid4().hex[:12]}"
    response = await client.post(
        "/api/v1/metrics",
        content=gzip.compress(json.dumps({"name": name, "value": 1}).encode()),
        headers={
            "X-API-Key": token,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 201, response.text


# --- every GET route in /openapi.json, hostile values ------------------------------------
#
# Two sweeps over the routes the service itself describes, so a new route is
# covered without touching this file. A value is usually refused for being
# hostile only when the rest of the query is valid, so the first sweep sends
# each named hostile value alone, to every parameter of every route; the
# hypothesis test then mixes values, names, repeats and path ids.

NAMED_HOSTILE = [
    "a\x00b",
    "a\x01\x1f\x7fb",
    "1e309",
    "-1e309",
    "1E400",
    "NaN",
    "1e-400",
    "9" * 400,
    "x" * 1001,
    "\ud800",
    "\uffff",
    "\u202e\u200f",
    "😀",
    "",
    ",",
]
DOTTED = ["attr.x", "attr.status", "attr.", "attr.a.b", "label.x", "label.x!", "label.", "label.!"]
PATH_IDS = ["1", "0", "-1", "99999999999999999999", "1e309", "x", "\x00", "\ud800"]
SWEPT_DOTTED = ["attr.x", "label.x", "label.x!"]

# Each kind of hostile value is one branch, so every kind turns up often.
HOSTILE = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "%00"]),
    st.characters(codec="utf-8", categories=["Cc"]).map(lambda c: f"a{c}b"),
    st.sampled_from(["1e309", "-1e309", "1E400", "NaN", "-NaN", "Infinity", "1e-400", "-0"]),
    st.sampled_from(["9" * 5000, "x" * 50_000, "x" * 1001, "é" * 600]),
    st.sampled_from(["\ud800", "a\udfffb", "\uffff", "\u202e\u200f", "😀", "\ufeff"]),
    st.sampled_from(["", ",", ", ,", "0", "-1", "99999999999999999999", "x"]),
    st.sampled_from(
        [
            "1",
            "2026-01-01T00:00:00Z",
            "1970-01-01T00:00:00+14:00",
            "8999-12-31T23:59:59-14:00",
            "1h",
            "999999d",
            "error",
            "open",
            "avg",
            "p99",
            "host,region",
        ]
    ),
    st.text(max_size=20),
)


class Target(str):
    """A request target whose repr stays short when hypothesis reports it."""

    def __repr__(self) -> str:
        return repr(str(self)[:300]) + (f"... ({len(self)} characters)" if len(self) > 300 else "")


Routes = list[tuple[str, list[str]]]


@pytest.fixture(scope="module")
def get_routes(threaded_service: ThreadedService) -> Routes:
    """(path template, query parameter names) of every GET operation."""
    spec = httpx.get(f"{threaded_service.base_url}/openapi.json", timeout=10).json()
    routes = [
        (path, [p["name"] for p in item["get"].get("parameters", []) if p["in"] == "query"])
        for path, item in spec["paths"].items()
        if "get" in item
    ]
    assert any(names for _, names in routes)  # the spec does describe query parameters
    return routes


def with_ids(template: str, ids: list[str]) -> str:
    """The path with each {parameter} replaced by the next id, or a valid-looking one."""
    remaining = iter(ids)
    return re.sub(
        r"\{([^}]+)\}",
        lambda match: encoded(next(remaining, str(uuid.uuid4()) if "event" in match[1] else "1")),
        template,
    )


def target(path: str, pairs: list[tuple[str, str]]) -> Target:
    while len(query_string(pairs)) > 60_000:  # httpx sends at most 64 KiB of URL
        pairs = pairs[:-1]
    return Target(f"{path}?{query_string(pairs)}")


def assert_answered_well(response: httpx.Response, sent: str) -> None:
    assert response.status_code < 500, (sent, response.text)
    if response.status_code >= 400 and response.content:
        assert response.headers["content-type"] == PROBLEM, (sent, response.text)
        assert response.json()["status"] == response.status_code


def test_each_hostile_value_alone_in_each_parameter_of_each_route(
    threaded_service: ThreadedService, get_routes: Routes
) -> None:
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=30) as client:
        for template, documented in get_routes:
            path = with_ids(template, [])
            for name in documented + SWEPT_DOTTED:
                for value in NAMED_HOSTILE:
                    sent = target(path, [(name, value)])
                    assert_answered_well(client.get(sent), sent)


def queries(documented: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    names = st.one_of(st.sampled_from(documented), st.sampled_from(DOTTED), st.text(max_size=10))
    pairs = st.lists(st.tuples(names, HOSTILE), max_size=4)
    repeated = st.tuples(names, HOSTILE.filter(lambda v: len(v) < 50), st.integers(2, 300)).map(
        lambda drawn: [drawn[:2]] * drawn[2]
    )
    return st.tuples(pairs, st.just([]) | repeated).map(lambda both: both[0] + both[1])


def test_no_query_on_any_get_route_is_a_server_error(
    threaded_service: ThreadedService, get_routes: Routes
) -> None:
    """Each example sends one hostile query (and path ids) to every GET route."""
    documented = sorted({name for _, names in get_routes for name in names})
    ids = st.lists(st.sampled_from(PATH_IDS) | HOSTILE.filter(lambda v: len(v) < 100), max_size=2)
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=30) as client:

        @settings(
            max_examples=80,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(pairs=queries(documented), path_ids=ids)
        def check(pairs: list[tuple[str, str]], path_ids: list[str]) -> None:
            for template, _ in get_routes:
                sent = target(with_ids(template, path_ids), pairs)
                assert_answered_well(client.get(sent), sent)

        check()
