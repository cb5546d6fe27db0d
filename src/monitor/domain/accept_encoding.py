"""Whether a request's Accept-Encoding admits a content coding (RFC 9110 §12.5.3).

A coding is admitted when it is listed, or covered by `*`, with a quality
above zero; a more specific entry wins over `*`. Anything malformed in an
entry makes that entry count for nothing rather than failing the request.
"""

from __future__ import annotations


def _quality(parameters: list[str]) -> float | None:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "q":
            continue
        try:
            quality = float(value.strip())
        except ValueError:
            return None
        if not 0.0 <= quality <= 1.0:  # also rejects nan
            return None
        return quality
    return 1.0


def accepts_coding(header: str | None, coding: str) -> bool:
    if not header:
        return False
    coding = coding.lower()
    named: float | None = None
    wildcard: float | None = None
    for entry in header.split(","):
        name, *parameters = entry.split(";")
        name = name.strip().lower()
        quality = _quality(parameters)
        if quality is None:
            continue
        if name == coding:
            named = quality if named is None else max(named, quality)
        elif name == "*":
            wildcard = quality if wildcard is None else max(wildcard, quality)
    chosen = named if named is not None else wildcard
    return chosen is not None and chosen > 0.0
