"""What the dashboard read routes share: the clock, the parameter check, the shared answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
from quart import Response

from monitor.domain.ranges import Window
from monitor.domain.result_keys import result_key
from monitor.web.deps import current_deps
from monitor.web.edge.query_checks import QueryArgs
from monitor.web.edge.revalidation import revalidated_response

RANGE_PARAMETERS = frozenset({"range", "from", "to"})


_encode = msgspec.json.Encoder().encode


def now() -> datetime:
    """The moment a request is answered at (tests hold it still to stay within one tick)."""
    return datetime.now(UTC)


def unknown_parameters(args: QueryArgs, allowed: Collection[str]) -> list[dict[str, Any]]:
    """A field error for each parameter of `args` the route does not take."""
    return [
        {"field": name, "message": "is not a known parameter"}
        for name in args
        if name not in allowed
    ]


async def shared_answer(
    route: str,
    params: Iterable[tuple[str, str]],
    window: Window,
    compute: Callable[[], Awaitable[Any]],
    *,
    sets: Collection[str] = (),
) -> Response:
    """The answer for (route, canonical params, tick), computed once and shared; 304 when
    the request's If-None-Match names it. `sets`: filters whose values' order and
    repetition change nothing (see domain/result_keys.py)."""

    async def computed() -> bytes:
        return _encode(await compute())

    key = result_key(route, params, window.tick_id, sets=sets)
    body = await current_deps().shared_results.get_or_compute(key, window.fresh_for, computed)
    return revalidated_response(body, window.fresh_for)
