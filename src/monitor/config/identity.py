"""Who this instance is: its id, and the URL users reach it at (given, or derived).

Both have defaults worked out from the bind address, so a single instance on
a laptop needs neither setting; behind a proxy, or with several instances,
they are set explicitly (see docs/secrets.md).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from monitor.config.settings import Settings

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})  # noqa: S104 (recognised, not bound to)


@dataclass(frozen=True)
class Identity:
    instance_id: str
    public_url: str  # no trailing slash: links are public_url + "/path"
    public_url_given: bool  # False: derived from the bind address, perhaps not what users use


def identify(
    settings: Settings, *, hostname: str | None = None, pid: int | None = None
) -> Identity:
    """The instance id and public URL: the settings', else derived from host and port.

    `hostname` and `pid` default to this machine's and this process's.
    """
    hostname = (socket.gethostname() if hostname is None else hostname).lower() or "localhost"
    instance_id = settings.instance_id or default_instance_id(
        hostname, settings.port, os.getpid() if pid is None else pid
    )
    if settings.public_url is not None:
        return Identity(instance_id, settings.public_url, public_url_given=True)
    return Identity(
        instance_id,
        derived_public_url(settings.host, settings.port, hostname),
        public_url_given=False,
    )


def default_instance_id(hostname: str, port: int, pid: int) -> str:
    """`host:port`; with port 0 (a free one picked at start) `host:pid<pid>`, which at
    least tells processes on one machine apart."""
    return f"{hostname}:{port}" if port else f"{hostname}:pid{pid}"


def derived_public_url(host: str, port: int, hostname: str) -> str:
    """`http://<host>:<port>`; a wildcard bind (0.0.0.0, ::) names the machine instead,
    since nobody can browse to 0.0.0.0."""
    name = hostname if host in WILDCARD_HOSTS else host.lower()
    if ":" in name:
        name = f"[{name}]"  # an IPv6 address
    return f"http://{name}:{port}"


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may well be reachable from elsewhere


def public_url_warning(settings: Settings, identity: Identity) -> str | None:
    """Why the derived public URL may be wrong: only when others can connect and no
    MONITOR_PUBLIC_URL was given."""
    if identity.public_url_given or is_loopback(settings.host):
        return None
    return (
        f"MONITOR_PUBLIC_URL is not set while listening on {settings.host}: links in "
        f"notifications and the dashboard's Origin check use {identity.public_url}, which "
        "may not be the address users reach; set MONITOR_PUBLIC_URL"
    )
