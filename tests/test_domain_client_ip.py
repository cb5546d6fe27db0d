"""Which address a request is counted against."""

from __future__ import annotations

import pytest

from monitor.config import SettingsError, load_settings
from monitor.domain.client_ip import TrustedProxies, client_address, limit_identity

PROXIES = TrustedProxies.parse("10.0.0.0/8, ::1")


def test_the_socket_peer_is_the_client_when_it_is_not_a_trusted_proxy() -> None:
    assert client_address("203.0.113.7", ["198.51.100.1"], PROXIES) == "203.0.113.7"


def test_a_trusted_proxy_passes_on_the_nearest_untrusted_forwarded_address() -> None:
    # The client may write anything on the left; only hops our proxies added count.
    forwarded = ["6.6.6.6, 198.51.100.9", "10.1.2.3"]
    assert client_address("10.0.0.1", forwarded, PROXIES) == "198.51.100.9"
    assert client_address("::1", ["2001:db8::5"], PROXIES) == "2001:db8::5"


def test_garbled_or_missing_forwarding_stops_at_the_last_trusted_hop() -> None:
    assert client_address("10.0.0.1", [], PROXIES) == "10.0.0.1"
    assert client_address("10.0.0.1", ["not-an-ip, 10.0.0.2"], PROXIES) == "10.0.0.2"


def test_no_trusted_proxies_means_forwarded_headers_are_ignored() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], TrustedProxies()) == "127.0.0.1"


def test_ipv6_clients_share_one_budget_per_64_and_mapped_ipv4_is_ipv4() -> None:
    assert limit_identity("2001:db8:1:2:aaaa::1") == limit_identity("2001:db8:1:2:bbbb::9")
    assert limit_identity("2001:db8:1:3::1") != limit_identity("2001:db8:1:2::1")
    assert limit_identity("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_address(None, [], PROXIES) == "unknown"


def test_trusted_proxies_setting_is_validated_and_shown_plainly() -> None:
    settings = load_settings({"MONITOR_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.1"})
    assert settings.redacted()["trusted_proxies"] == "10.0.0.0/8,192.0.2.1/32"
    with pytest.raises(SettingsError, match="MONITOR_TRUSTED_PROXIES"):
        load_settings({"MONITOR_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"})
