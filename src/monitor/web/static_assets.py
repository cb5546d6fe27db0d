"""`/static/…`: the files under static/, by versioned names that may be cached for a year.

At first use every file under static/ is read once and named
`<stem>.<hash>.<ext>` after the first 10 hex digits of its SHA-256
(`app.css` → `app.1f2e3d4c5b.css`). Pages link to those names
(`asset_url`), which are served with `Cache-Control: public, max-age=31536000,
immutable`: a changed file gets a new name, so no browser keeps a stale one.
The plain names still work (a bookmark, a licence file) with `no-cache`, and
both answer `If-None-Match` with 304.

Text files (scripts, styles, JSON, licences) are sent gzip-compressed to a
client that accepts it, with `Vary: Accept-Encoding`. Each file is
compressed once, at level 9, the first time a client asks for it, in a
worker thread, and kept in memory beside the file (the whole static/ folder
is about 2 MB, 0.5 MB compressed; level 9 takes ~60 ms for all of it, 50 of
them for the Swagger UI bundle). Nothing compressed is committed or written
to disk: the compressed bytes can never drift from the files.
Brotli would save another ~15 % but needs a compiled package; gzip is in the
standard library.

Only names found in that one scan are served: a request path is looked up in
a dictionary, never joined to a directory, so no `..` or symlink can reach
anything else.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

import trio
from quart import Blueprint, Response, request
from quart_schema import hide

from monitor.domain.accept_encoding import accepts_coding
from monitor.resources import static_dir
from monitor.web.edge.problems import ProblemError

blueprint = Blueprint("static_assets", __name__)

STATIC_PREFIX = "/static/"
HASH_DIGITS = 10
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE_TYPES = frozenset(
    {"application/javascript", "text/javascript", "application/json", "image/svg+xml"}
)
# Below this a compressed body saves less than its headers cost.
MIN_COMPRESS_BYTES = 512
CHUNK_BYTES = 64 * 1024


@dataclass
class Asset:
    relative: str  # as under static/, "vendor/htmx-4.0.1.min.js"
    versioned: str  # "vendor/htmx-4.0.1.min.0123456789.js"
    body: bytes
    content_type: str
    etag: str
    gzipped: bytes | None = field(default=None, repr=False)

    @property
    def compressible(self) -> bool:
        kind = self.content_type.split(";", 1)[0]
        return (kind.startswith("text/") or kind in COMPRESSIBLE_TYPES) and len(
            self.body
        ) >= MIN_COMPRESS_BYTES


def versioned_name(relative: str, digest: str) -> str:
    path = PurePosixPath(relative)
    if path.suffix:
        return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))
    return f"{relative}.{digest}"


def _content_type(relative: str) -> str:
    guessed, _ = mimetypes.guess_type(relative)
    if relative.endswith(".LICENSE") or relative.endswith("NOTICE"):
        guessed = "text/plain"
    kind = guessed or "application/octet-stream"
    if kind.startswith("text/") or kind in COMPRESSIBLE_TYPES:
        return f"{kind}; charset=utf-8"
    return kind


@dataclass
class Manifest:
    by_name: dict[str, Asset]  # both the plain and the versioned name
    immutable: frozenset[str]  # the versioned names


def scan(root: Path) -> Manifest:
    by_name: dict[str, Asset] = {}
    immutable = set()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.endswith(".sh"):
            continue
        relative = path.relative_to(root).as_posix()
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:HASH_DIGITS]
        asset = Asset(
            relative, versioned_name(relative, digest), body, _content_type(relative), digest
        )
        by_name[relative] = asset
        by_name[asset.versioned] = asset
        immutable.add(asset.versioned)
    return Manifest(by_name, frozenset(immutable))


@cache
def manifest() -> Manifest:
    return scan(static_dir())


def asset_url(relative: str) -> str:
    """The versioned URL of a file under static/ (KeyError for one that is not there)."""
    return STATIC_PREFIX + manifest().by_name[relative].versioned


def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=9, mtime=0)


async def gzipped(asset: Asset) -> bytes:
    """The asset compressed, done once; two first requests at once may both compress it."""
    if asset.gzipped is None:
        asset.gzipped = await trio.to_thread.run_sync(_gzip, asset.body)
    return asset.gzipped


@blueprint.route("/static/<path:filename>", methods=["GET"])
@hide
async def static_file(filename: str) -> Response:
    found = manifest()
    asset = found.by_name.get(filename)
    if asset is None:
        raise ProblemError(404, "no such static file")
    headers = {
        "Cache-Control": IMMUTABLE if filename in found.immutable else REVALIDATE,
        "ETag": f'"{asset.etag}"',
    }
    if asset.compressible:
        headers["Vary"] = "Accept-Encoding"
    compress = asset.compressible and accepts_coding(request.headers.get("Accept-Encoding"), "gzip")
    if compress:  # another representation, another tag
        headers["ETag"] = f'"{asset.etag}-gzip"'
    if headers["ETag"] in request.headers.get("If-None-Match", ""):
        return Response(b"", status=304, headers=headers)
    body = asset.body
    if compress:
        body = await gzipped(asset)
        headers["Content-Encoding"] = "gzip"
    headers["Content-Length"] = str(len(body))
    return Response(_chunks(body), status=200, content_type=asset.content_type, headers=headers)


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    # Written in pieces, like a file: the server's send timeout then ends a
    # connection whose client reads nothing (one 1.7 MB write left it open).
    view = memoryview(body)
    for start in range(0, len(body), CHUNK_BYTES):
        yield bytes(view[start : start + CHUNK_BYTES])
