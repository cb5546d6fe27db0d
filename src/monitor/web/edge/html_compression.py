"""HTML answers go out gzip-compressed to clients that accept it.

Only `text/html`: pages are a few KB of repetitive markup, compressed at
level 6 in well under a millisecond. API JSON is left alone (clients
seldom ask, and big JSON is better cached than recompressed each time);
static files are compressed once, ahead, by `web/static_assets.py`.
"""

from __future__ import annotations

import gzip

from quart import Quart, Response, request
from quart.wrappers.response import DataBody

from monitor.domain.accept_encoding import accepts_coding

# Below this the gzip header and trailer eat most of the gain.
MIN_BYTES = 1024
LEVEL = 6


def _is_html(response: Response) -> bool:
    return (response.mimetype or "") == "text/html"


async def compress_html(response: Response) -> Response:
    if (
        not _is_html(response)
        or not isinstance(response.response, DataBody)
        or "Content-Encoding" in response.headers
    ):
        return response
    response.vary.add("Accept-Encoding")
    if not accepts_coding(request.headers.get("Accept-Encoding"), "gzip"):
        return response
    body = await response.get_data(as_text=False)
    if len(body) < MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, compresslevel=LEVEL, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    return response


def register_html_compression(app: Quart) -> None:
    app.after_request(compress_html)
