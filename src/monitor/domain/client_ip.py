"""Which client a request comes from, for per-address rate limits.

The socket's peer is the client, unless the peer is a trusted proxy: then
`X-Forwarded-For` is read from the right (the hop nearest to us), skipping
trusted proxies, and the first address that is not one is the client. Entries
left of it were written by the client itself and prove nothing.

IPv6 clients are limited per /64 (what one subscriber is usually given), so
rotating addresses inside one network does not multiply the budget.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> TrustedProxies:
        """Comma-separated addresses or networks, e.g. `10.0.0.0/8, ::1`."""
        networks: list[Network] = []
        for part in raw.split(","):
            text = part.strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {text!r}") from None
        return cls(tuple(networks))

    def __contains__(self, address: Address) -> bool:
        address = _unmapped(address)
        return any(address.version == n.version and address in n for n in self.networks)

    def __str__(self) -> str:
        return ",".join(str(network) for network in self.networks)


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse(text: str) -> Address | None:
    text = text.strip().strip("[]")
    try:
        return _unmapped(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: TrustedProxies) -> str:
    """The client's address as text; `forwarded_for` are the X-Forwarded-For header values."""
    address = _parse(peer or "")
    if address is None:
        return UNKNOWN
    if address not in trusted:
        return str(address)
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        forwarded = _parse(hop)
        if forwarded is None:
            break  # a garbled hop: trust nothing further left
        address = forwarded
        if address not in trusted:
            break
    return str(address)


def limit_identity(address: str) -> str:
    """What the per-address limits count: the IPv4 address, or the IPv6 /64."""
    parsed = _parse(address)
    if parsed is None:
        return UNKNOWN
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
