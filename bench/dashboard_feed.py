"""Live ingest at the data set's own rates while the dashboard is measured.

A dashboard is read while data keeps arriving: the overview's last-minute
rates, the newest raw events past the counted ones and the newest samples
past the rollups are then never empty. This posts, through the API, what the
data set holds per minute: about 100 events a minute (one bulk request a
second) and one sample per series a minute (a bulk request of a tenth of the
series every 6 s). Bounded by a stop event and a deadline; its failures are
counted, not raised.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import trio

import dashboard_data

EVENT_PERIOD = 1.0  # seconds between event requests
SAMPLE_PERIOD = 6.0  # seconds between sample requests; SERIES_SHARE of the series each


@dataclass
class Feed:
    events: int = 0
    samples: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    started: datetime | None = None
    stopped: datetime | None = None


async def feed(
    base_url: str,
    token: str,
    maker: dashboard_data.EventMaker,
    stop: trio.Event,
    deadline: float,
    result: Feed,
) -> None:
    """Post events and samples until `stop` is set or `deadline` (trio clock) passes.

    Events come from `maker` (the data set's types, sources and error
    signatures, so errors join the existing groups).
    """
    result.started = datetime.now(UTC)
    specs = dashboard_data.series_specs()
    values = dashboard_data.SampleValues(specs, seed=int(trio.current_time()), start_step=20_000)
    share = max(1, round(len(specs) * SAMPLE_PERIOD / 60))
    async with httpx.AsyncClient(
        base_url=base_url, headers={"X-API-Key": token}, timeout=httpx.Timeout(10)
    ) as client:
        with trio.move_on_at(deadline):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_events, client, maker, stop, result)
                nursery.start_soon(_samples, client, specs, values, share, stop, result)
                await stop.wait()
                nursery.cancel_scope.cancel()
    result.stopped = datetime.now(UTC)


async def _post(client: httpx.AsyncClient, path: str, body: bytes, result: Feed) -> bool:
    try:
        response = await client.post(
            path, content=body, headers={"Content-Type": "application/json"}
        )
    except httpx.HTTPError as failure:
        result.statuses[type(failure).__name__] += 1
        return False
    result.statuses[str(response.status_code)] += 1
    return response.status_code in (200, 201, 202)


async def _events(
    client: httpx.AsyncClient, maker: dashboard_data.EventMaker, stop: trio.Event, result: Feed
) -> None:
    carry = 0.0
    while not stop.is_set():
        now = datetime.now(UTC)
        carry += (
            dashboard_data.EVENTS_PER_MINUTE
            / 60
            * dashboard_data.minute_weight(now)
            / (dashboard_data._WEEK_MEAN)
        )
        count, carry = int(carry), carry - int(carry)
        if count:
            body = msgspec.json.encode([maker.posted(now) for _ in range(count)])
            if await _post(client, "/api/v1/events/bulk", body, result):
                result.events += count
        await trio.sleep(EVENT_PERIOD)


async def _samples(
    client: httpx.AsyncClient,
    specs: list[dashboard_data.SeriesSpec],
    values: dashboard_data.SampleValues,
    share: int,
    stop: trio.Event,
    result: Feed,
) -> None:
    offset = 0
    current: list[float] = []
    while not stop.is_set():
        now = datetime.now(UTC)
        if offset == 0:
            current = list(values.at(now))
        part = range(offset, min(offset + share, len(specs)))
        stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = msgspec.json.encode(
            [
                {
                    "name": specs[n].name,
                    "type": specs[n].type,
                    "labels": specs[n].labels,
                    "value": current[n],
                    "time": stamp,
                }
                for n in part
            ]
        )
        if await _post(client, "/api/v1/metrics/bulk", body, result):
            result.samples += len(part)
        offset = part.stop % len(specs)
        await trio.sleep(SAMPLE_PERIOD)


def as_figures(result: Feed) -> dict[str, object]:
    seconds = (
        (result.stopped - result.started) / timedelta(seconds=1)
        if result.started and result.stopped
        else 0.0
    )
    return {
        "events": result.events,
        "samples": result.samples,
        "seconds": round(seconds, 1),
        "statuses": dict(result.statuses),
    }
