"""The key under which one shared result is kept: route, parameters and tick, canonically.

Two requests that must get the same answer must get the same key, and two
that may get different answers must not. So:

- parameter names are sorted (`?a=1&b=2` is `?b=2&a=1`);
- the values of a repeated name keep their order, because for some
  parameters it matters (`group_by=a&group_by=b` is not `group_by=b&group_by=a`);
- names listed in `sets` are filters whose values form a set: their values
  are sorted and duplicates dropped (`source=a&source=b&source=a` is
  `source=b&source=a`).

Keeping an order that did not matter costs one more computation; merging
two orders that did would show one viewer another's answer, so order is
kept unless the route says otherwise.

Names and values are percent-encoded, so no value can imitate the key's
separators. The caller passes values it has already parsed, written in one
form (`1h` and `60m` as one spelling), and only the parameters the result
depends on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import quote


def result_key(
    route: str, params: Iterable[tuple[str, str]], tick_id: str, *, sets: Collection[str] = ()
) -> str:
    """`route?name=value&…#tick_id`, the same for every spelling of the same request."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        values.setdefault(name, []).append(value)
    pairs = []
    for name in sorted(values):
        given = values[name]
        for value in sorted(set(given)) if name in sets else given:
            pairs.append(f"{_quoted(name)}={_quoted(value)}")
    return f"{_quoted(route, safe='/')}?{'&'.join(pairs)}#{_quoted(tick_id)}"


def _quoted(text: str, safe: str = "") -> str:
    return quote(text, safe=safe, errors="surrogatepass")
