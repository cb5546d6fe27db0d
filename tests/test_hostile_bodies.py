"""Hostile request bodies against a real `monitor serve`: no answer keeps a body in memory.

A body sent to a route that takes none, or one refused (404, 405, 400, 413, a
gzip bomb), must be gone once its answer is sent, under the serve-time GC
settings; and the connection must stay usable for what follows.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from conftest import MakeKey
from monitor.web.edge.request_body import Refusal, _gunzip
from processes import ServeProcess, clean_environment, serving

MAX_REQUEST_BYTES = 10 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024
BIG = 9 * 1024 * 1024
RSS_GROWTH_LIMIT = 50 * 1024 * 1024
CLIENTS = 4


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def gzip_bomb(inflated: int) -> bytes:
    """A small gzip body of `inflated` zero bytes, built without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    parts = [compressor.compress(zeros) for _ in range(inflated // len(zeros))]
    return b"".join(parts) + compressor.flush()


@pytest.fixture
async def serve(database_url: str, tmp_path: Path) -> AsyncIterator[ServeProcess]:
    env = clean_environment(
        MONITOR_DATABASE_URL=database_url,
        MONITOR_DATA_DIR=str(tmp_path),
        MONITOR_MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES),
        MONITOR_MAX_DECOMPRESSED_BYTES=str(MAX_DECOMPRESSED_BYTES),
        MONITOR_RATE_LIMIT_PER_IP="1000000",
        MONITOR_RATE_LIMIT_PER_KEY="1000000",
        MONITOR_AUTH_FAILURES_PER_IP="1000000",
        MONITOR_KEY_USAGE_FLUSH_INTERVAL="3600",
    )
    async with serving(env=env) as process:
        yield process


@pytest.fixture
async def write_token(make_key: MakeKey) -> str:
    return (await make_key("write"))[1]


Request = Callable[[httpx.AsyncClient], httpx.Request]


def hostile_requests(token: str) -> list[tuple[str, Request, int]]:
    """(what, build a request, the status it must get): 100 big bodies and 20 gzip bombs."""
    big = b"x" * BIG
    invalid_json = b"[" * BIG
    too_large = b"y" * (MAX_REQUEST_BYTES + 1024 * 1024)
    bomb = gzip_bomb(4 * MAX_DECOMPRESSED_BYTES)
    assert len(bomb) < 100 * 1024
    writer = {"X-API-Key": token, "Content-Type": "application/json"}
    events = "/api/v1/events"
    kinds: list[tuple[str, Request, int]] = [
        ("missing path", lambda c: c.build_request("POST", "/nowhere", content=big), 404),
        ("POST /health", lambda c: c.build_request("POST", "/health", content=big), 405),
        (
            "invalid JSON",
            lambda c: c.build_request("POST", events, headers=writer, content=invalid_json),
            400,
        ),
        (
            "over the size limit",
            lambda c: c.build_request("POST", events, headers=writer, content=too_large),
            413,
        ),
    ]
    requests = [kinds[i % len(kinds)] for i in range(100)]
    gzipped = {**writer, "Content-Encoding": "gzip"}
    requests += [
        (
            "gzip bomb",
            lambda c: c.build_request("POST", events, headers=gzipped, content=bomb),
            413,
        )
    ] * 20
    return requests


async def send_all(base_url: str, requests: list[tuple[str, Request, int]]) -> list[str]:
    """Send them over CLIENTS concurrent clients; the mismatches, as text."""
    wrong: list[str] = []
    pending = list(requests)

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            while pending:
                what, build, expected = pending.pop()
                response = await client.send(build(client))
                if response.status_code != expected:
                    wrong.append(f"{what}: {response.status_code} (wanted {expected})")

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for _ in range(CLIENTS):
                nursery.start_soon(worker)
    return wrong


async def test_refused_bodies_and_gzip_bombs_leave_no_memory_behind(
    serve: ServeProcess, write_token: str
) -> None:
    requests = hostile_requests(write_token)
    # One of each first, so that what a first request loads is in the baseline.
    warm_up = [requests[0], requests[1], requests[2], requests[3], requests[-1]]
    assert await send_all(serve.base_url, warm_up) == []
    before = rss_bytes(serve.process.pid)

    assert await send_all(serve.base_url, requests) == []

    grown = rss_bytes(serve.process.pid) - before
    assert grown < RSS_GROWTH_LIMIT, f"RSS grew by {grown / 2**20:.0f} MB"
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=10) as fresh:
        response = await fresh.get(
            "/api/v1/events", headers={"X-API-Key": write_token}, params={"limit": 1}
        )
        assert response.status_code in (200, 403), response.text
        assert (await fresh.get("/health")).status_code == 200


async def test_a_big_legitimate_ingest_still_works_plain_and_gzipped(
    serve: ServeProcess, write_token: str
) -> None:
    event = {"type": "big", "source": "hostile-bodies", "message": "m" * 900}
    events = [event] * 5_000
    text = json.dumps(events).encode()
    assert len(text) > 4_500_000
    headers = {"X-API-Key": write_token, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=60) as client:
        plain = await client.post("/api/v1/events/bulk", headers=headers, content=text)
        assert plain.status_code == 201, plain.text
        assert plain.json()["accepted"] == len(events)
        zipped = await client.post(
            "/api/v1/events/bulk",
            headers={**headers, "Content-Encoding": "gzip"},
            content=gzip.compress(text),
        )
        assert zipped.status_code == 201, zipped.text
        assert zipped.json()["accepted"] == len(events)


async def test_keep_alive_survives_a_404_with_a_small_body(serve: ServeProcess) -> None:
    connections: list[object] = []

    async def note_connection(response: httpx.Response) -> None:
        connections.append(response.extensions["network_stream"])

    async with httpx.AsyncClient(
        base_url=serve.base_url, timeout=10, event_hooks={"response": [note_connection]}
    ) as client:
        missing = await client.post("/nowhere", content=b"small body")
        assert missing.status_code == 404
        assert missing.headers.get("connection", "").lower() != "close"
        assert (await client.get("/health")).status_code == 200
    assert connections[0] is connections[1]  # the same connection served both


async def test_a_body_sent_to_a_route_that_takes_none_is_answered_and_the_next_request_works(
    serve: ServeProcess,
) -> None:
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=10) as client:
        refused = await client.post("/health", content=b"z" * BIG)
        assert refused.status_code == 405
        assert (await client.get("/health")).status_code == 200


@given(
    members=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    limit=st.integers(min_value=0, max_value=8000),
    cut=st.integers(min_value=1, max_value=20),
)
def test_gunzip_inflates_every_member_up_to_the_limit_and_refuses_the_rest(
    members: list[bytes], limit: int, cut: int
) -> None:
    whole = b"".join(members)
    compressed = [gzip.compress(member) for member in members]
    body = b"".join(compressed)
    # Cut inside the last member: cutting it off whole leaves a valid body.
    cut = min(cut, len(compressed[-1]) - 1)
    inflated = _gunzip(body, limit)
    if len(whole) <= limit:
        assert inflated == whole
    else:
        assert isinstance(inflated, Refusal) and inflated.status == 413
    truncated = _gunzip(body[:-cut], limit)
    assert isinstance(truncated, Refusal) and truncated.status in (400, 413)
    assert _gunzip(b"not gzip" + body, limit) == Refusal(400, "the request body is not valid gzip")
