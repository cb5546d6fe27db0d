"""A dashboard answer computed once per key and tick, and served with ETag/304.

The key is the route, the parameters the answer depends on (parsed and
written canonically by the caller) and the window's tick; see
domain/result_keys.py and shared_results.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

import msgspec
from quart import Response

from monitor.domain.ranges import Window
from monitor.domain.result_keys import result_key
from monitor.web.deps import current_deps
from monitor.web.edge.revalidation import revalidated_response

_encode = msgspec.json.Encoder().encode


async def shared_answer(
    route: str,
    params: Iterable[tuple[str, str]],
    window: Window,
    compute: Callable[[], Awaitable[Any]],
    *,
    sets: Collection[str] = (),
) -> Response:
    """The JSON of `compute()`, shared by every request with the same key in this tick.

    `compute` may depend only on what `params` and the window's tick name.
    """
    key = result_key(route, params, window.tick_id, sets=sets)

    async def encoded() -> bytes:
        return _encode(await compute())

    body = await current_deps().shared_results.get_or_compute(key, window.fresh_for, encoded)
    return revalidated_response(body, window.fresh_for)
