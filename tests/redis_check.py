"""Pick a Redis database number for this test run, failing loudly if Redis is down."""

from __future__ import annotations

import os
import socket

import pytest


def _command(sock: socket.socket, *parts: str) -> bytes:
    payload = f"*{len(parts)}\r\n" + "".join(f"${len(p)}\r\n{p}\r\n" for p in parts)
    sock.sendall(payload.encode())
    return sock.recv(65536)


def free_database_number(url: str) -> int:
    """A database number derived from the PID (1..15), checked to be reachable."""
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 6379)), timeout=3) as sock:
            if not _command(sock, "PING").startswith(b"+PONG"):
                pytest.fail(f"Redis at {url} did not answer PING")
    except OSError as failure:
        pytest.fail(f"Redis at {url} is not reachable: {failure}")
    return 1 + os.getpid() % 15
