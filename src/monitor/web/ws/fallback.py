"""Abort a client's TCP connection that Hypercorn is stuck writing to.

Hypercorn shields every socket write from cancellation, so a websocket client
that stops reading, once the kernel buffers are full, holds its handler (and
the server's stop) for as long as it likes. An ASGI app never sees the socket:
this finds it among the process's descriptors by its two addresses and shuts
it down, which makes the blocked write fail and Hypercorn close the stream.
Linux only (/proc); elsewhere nothing is found and the connection stays.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def _address(raw: Sequence[Any] | None) -> tuple[str, int] | None:
    if raw is None or len(raw) < 2:
        return None
    return str(raw[0]), int(raw[1])


def abort_connection(client: Sequence[Any] | None, server: Sequence[Any] | None) -> bool:
    """Shut down the TCP connection from `client` to `server`; False if it was not found."""
    peer, local = _address(client), _address(server)
    if peer is None or local is None:
        return False
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for name in descriptors:
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            duplicate = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue  # closed meanwhile, or not a socket we can inspect
        with duplicate:
            try:
                if duplicate.type != socket.SOCK_STREAM or duplicate.family not in (
                    socket.AF_INET,
                    socket.AF_INET6,
                ):
                    continue
                if (
                    tuple(duplicate.getpeername()[:2]) == peer
                    and tuple(duplicate.getsockname()[:2]) == local
                ):
                    # shutdown acts on the connection, not on this descriptor
                    duplicate.shutdown(socket.SHUT_RDWR)
                    return True
            except OSError:
                continue
    return False
