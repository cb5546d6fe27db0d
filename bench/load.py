"""What the ingest benchmarks share: the service under HTTP load, and the COPY baseline.

- `serving(settings)`: the real service in this process on port 0, with a
  write key made beforehand (so no bootstrap key is printed), stopped
  gracefully at the end (in-flight requests finish, the ingest actors drain).
- `post_bodies(...)`: clients POSTing pre-built bodies for a time, after one
  untimed warm-up request each; latencies, statuses, acknowledged items.
- `run_copy(...)`: threads with one connection each, one batch per
  transaction, until the time is up; how a batch is copied is the caller's.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import trio

from common import CpuMeter
from monitor import service
from monitor.config import Settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations


@dataclass
class HttpResult:
    elapsed: float = 0.0
    acked: int = 0  # items in requests answered 201
    warmup_acked: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    first_failure: str | None = None
    cpu: dict[str, float] = field(default_factory=dict)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """(base URL, write key) of the service running in this process."""
    assert settings.database_url is not None
    await trio.to_thread.run_sync(apply_migrations, settings.database_url)
    async with open_gateway(
        settings.database_url,
        pool_size=1,
        statement_timeout=10,
        acquire_timeout=5,
        connect_timeout=5,
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="bench",
            role=Role.WRITE,
            rate_limit=0,
            expires_at=None,
            by=Attribution(Actor.system("bench")),
        )
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):
            running: service.Running = await nursery.start(
                functools.partial(service.run, settings, stop=stop, handle_signals=False)
            )
        try:
            yield f"http://127.0.0.1:{running.port}", token
        finally:
            stop.set()


async def post_bodies(
    base_url: str,
    path: str,
    headers: dict[str, str],
    bodies: Sequence[bytes],
    *,
    clients: int,
    items_per_body: int,
    seconds: float,
    max_requests: int,
    stamp: Callable[[bytes], bytes] = lambda body: body,
) -> HttpResult:
    """`clients` clients POST `bodies` (in turn, through `stamp`) for `seconds`."""
    result = HttpResult()
    pool = [
        httpx.AsyncClient(base_url=base_url, headers=headers, timeout=httpx.Timeout(60))
        for _ in range(clients)
    ]
    try:
        # Warm-up, untimed: one request per client opens its connection and
        # lets the service create partitions and fill its caches.
        async def warm(client: httpx.AsyncClient, index: int) -> None:
            response = await client.post(path, content=stamp(bodies[index % len(bodies)]))
            if response.status_code != 201:
                raise RuntimeError(f"warm-up got {response.status_code}: {response.text[:300]}")
            result.warmup_acked += items_per_body

        async with trio.open_nursery() as nursery:
            for index, client in enumerate(pool):
                nursery.start_soon(warm, client, index)

        remaining = max_requests
        started = time.perf_counter()
        deadline = started + seconds

        async def push(client: httpx.AsyncClient, number: int) -> None:
            nonlocal remaining
            turn = number
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                body = stamp(bodies[turn % len(bodies)])
                turn += clients
                sent = time.perf_counter()
                response = await client.post(path, content=body)
                result.latencies.append(time.perf_counter() - sent)
                result.statuses[response.status_code] += 1
                if response.status_code == 201:
                    result.acked += items_per_body
                elif result.first_failure is None:
                    result.first_failure = f"{response.status_code}: {response.text[:300]}"

        meter = CpuMeter()
        async with trio.open_nursery() as nursery:
            for number, client in enumerate(pool):
                nursery.start_soon(push, client, number)
        result.elapsed = time.perf_counter() - started
        result.cpu = meter.stop()
    finally:
        for client in pool:
            await client.aclose()
    return result


@dataclass
class CopyResult:
    rows: int = 0
    elapsed: float = 0.0
    transactions: int = 0
    cpu: dict[str, float] = field(default_factory=dict)


def run_copy(
    url: str,
    workers: int,
    seconds: float,
    batches: Sequence[Any],
    copy_batch: Callable[[psycopg.Connection[Any], Any], int],
    *,
    enough: Callable[[CopyResult], bool],
    prepare: Callable[[psycopg.Connection[Any]], None] = lambda connection: None,
) -> CopyResult:
    """`workers` threads, one connection each, until `seconds` pass or `enough`.

    Each transaction copies one batch (in turn) with `copy_batch`, which
    returns the rows it wrote; `prepare` sets up each connection first.
    """
    result = CopyResult()
    lock = threading.Lock()
    barrier = threading.Barrier(workers + 1)
    errors: list[BaseException] = []
    connections = [psycopg.connect(url) for _ in range(workers)]
    timing: dict[str, float] = {}

    def worker(number: int) -> None:
        connection = connections[number]
        turn = number
        try:
            prepare(connection)
            barrier.wait()
            deadline = timing["deadline"]
            while time.perf_counter() < deadline:
                with lock:
                    if enough(result):
                        return
                batch = batches[turn % len(batches)]
                turn += workers
                with connection.transaction():
                    count = copy_batch(connection, batch)
                with lock:
                    result.rows += count
                    result.transactions += 1
        except BaseException as error:
            errors.append(error)
            barrier.abort()  # nobody waits for this thread any more

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(workers)]
    try:
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        timing["deadline"] = started + seconds
        meter = CpuMeter()
        barrier.wait()
        for thread in threads:
            thread.join(timeout=seconds + 120)
        result.elapsed = time.perf_counter() - started
        result.cpu = meter.stop()
    finally:
        for connection in connections:
            connection.close()
    if errors:
        raise errors[0]
    return result
