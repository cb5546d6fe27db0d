"""What the dashboard read routes share: the clock, the parameter check, the shared answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import msgspec
from quart import Response

from monitor.domain.ranges import Window
from monitor.domain.result_keys import result_key
from monitor.storage.gateway import Gateway
from monitor.web.deps import current_deps
from monitor.web.edge.query_checks import QueryArgs
from monitor.web.edge.revalidation import revalidated_response

RANGE_PARAMETERS = frozenset({"range", "from", "to"})


_encode = msgspec.json.Encoder().encode


class Asked(Protocol):
    """A read route's question once parsed (`parse_<route>`): the window it is answered
    for, what its answer depends on in one spelling, and which of those parameters are
    sets (their values' order and repetition change nothing; see domain/result_keys.py)."""

    @property
    def window(self) -> Window: ...

    @property
    def sets(self) -> Collection[str]: ...

    def key_params(self) -> list[tuple[str, str]]: ...


AskedT = TypeVar("AskedT", bound=Asked)


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


async def shared_body(
    route: str, asked: AskedT, compute: Callable[[Gateway, AskedT], Awaitable[Any]]
) -> bytes:
    """The answer's JSON for (route, question, tick), computed once (`compute_<route>`)
    and shared: by the API route, and by a page showing the same answer."""
    deps = current_deps()

    async def computed() -> bytes:
        return _encode(await compute(deps.gateway, asked))

    window = asked.window
    key = result_key(route, asked.key_params(), window.tick_id, sets=asked.sets)
    return await deps.shared_results.get_or_compute(key, window.fresh_for, computed)


async def shared_answer(
    route: str, asked: AskedT, compute: Callable[[Gateway, AskedT], Awaitable[Any]]
) -> Response:
    """The shared answer (`shared_body`); 304 when the request's If-None-Match names it."""
    body = await shared_body(route, asked, compute)
    return revalidated_response(body, asked.window.fresh_for)
