"""Read a JSON request body, gunzipping `Content-Encoding: gzip` under a size cap."""

from __future__ import annotations

import zlib

import trio
from quart import request

from monitor.web.problems import ProblemError


def _gunzip(data: bytes, limit: int) -> bytes:
    """Every gzip member of `data` (concatenated members are legal), at most `limit` bytes."""
    inflated = bytearray()
    remaining = data
    while True:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            inflated += decompressor.decompress(remaining, limit + 1 - len(inflated))
        except zlib.error:
            raise ProblemError(400, "the request body is not valid gzip") from None
        if len(inflated) > limit or decompressor.unconsumed_tail:
            raise ProblemError(413, f"the decompressed request body is larger than {limit} bytes")
        if not decompressor.eof:
            raise ProblemError(400, "the gzip request body is truncated")
        remaining = decompressor.unused_data
        if not remaining:
            return bytes(inflated)


async def read_json_body(max_decompressed: int) -> bytes:
    """The raw JSON bytes of the request: 415 if not JSON, 413 over the caps."""
    if not request.is_json:
        raise ProblemError(415, "the request body must be JSON (Content-Type: application/json)")
    data = await request.get_data(as_text=False)
    assert isinstance(data, bytes)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding != "gzip":
        raise ProblemError(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    # Even a small body can inflate a lot: decompress off the event loop.
    return await trio.to_thread.run_sync(_gunzip, data, max_decompressed)
