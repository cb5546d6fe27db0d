"""Read a JSON request body, gunzipping `Content-Encoding: gzip` under a size cap."""

from __future__ import annotations

import zlib
from typing import NamedTuple

import trio
from quart import request

from monitor.web.edge.problems import ProblemError

# Output of one decompression step: the cap is checked this often, so a
# body that inflates past it costs at most the cap plus one step.
INFLATE_STEP = 1024 * 1024


class Refusal(NamedTuple):
    status: int
    detail: str


def _gunzip(data: bytes, limit: int) -> bytes | Refusal:
    """Every gzip member of `data` (concatenated members are legal), at most `limit` bytes.

    Runs in a worker thread, so a refusal is returned, not raised: an exception
    raised there is kept, with this frame and its buffer, in a reference cycle
    through Trio's thread outcome. Returning drops the buffer at once; the
    caller raises a new exception that refers to no frame of this one.
    """
    inflated = bytearray()
    remaining = data
    while True:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while not decompressor.eof:
            try:
                step = decompressor.decompress(remaining, INFLATE_STEP)
            except zlib.error:
                return Refusal(400, "the request body is not valid gzip")
            if not step and not remaining:
                return Refusal(400, "the gzip request body is truncated")
            inflated += step
            if len(inflated) > limit:
                return Refusal(413, f"the decompressed request body is larger than {limit} bytes")
            remaining = decompressor.unconsumed_tail
        remaining = decompressor.unused_data
        if not remaining:
            break
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
    inflated = await trio.to_thread.run_sync(_gunzip, data, max_decompressed)
    if isinstance(inflated, Refusal):
        raise ProblemError(inflated.status, inflated.detail)
    return inflated
