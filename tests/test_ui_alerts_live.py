"""The alerts pages' live updates over HTTP and the session's websocket: what the page's
script (static/alerts.js) relies on. The page names its live list and the address to
fetch it again (its filters kept, the action notice dropped); that address answers the
list as an htmx fragment, refused as the page is (no session, a role below read, bad
filters); a session's websocket subscribes to `alerts` and hears a resolve made on a
page. The browser test is test_ui_alerts_live_browser.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from trio_websocket import open_websocket_url

from alert_helpers import add_instance
from conftest import StartService
from test_ui_alerts import Site, listed
from ui_site import SITE, own_site
from ws_helpers import receive, subscribe, ws_url

FRAGMENT = {"HX-Request": "true"}


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    async with own_site(start_service, tmp_path, "alerts live", Site) as running:
        yield running


def live_list(page: str, element_id: str = "alerts-live") -> tuple[str, str]:
    """The live list's fetch address (unescaped) and its markup."""
    found = re.search(
        rf'<div id="{element_id}" data-alerts-live data-live-url="([^"]*)"(.*?)</div>\s*'
        r'<div hidden data-page-script="([^"]+)"',
        page,
        re.S,
    )
    assert found, page[:3000]
    assert "alerts" in found[3] and found[3].endswith(".js")
    return html.unescape(found[1]), found[2]


async def test_the_page_names_its_live_list_and_the_address_answers_it_fresh(
    site: Site,
) -> None:
    rule_id = await site.rule("latency")
    first = add_instance(site.database_url, rule_id, host="a")
    await site.sign_in("read")
    page = await site.http.get(
        "/ui/alerts", params={"state": "firing", "rule_id": str(rule_id), "resolved": str(first)}
    )
    assert page.status_code == 200
    url, markup = live_list(page.text)
    # The filters are kept, the notice of the last action is not.
    assert url == f"/ui/alerts?state=firing&rule_id={rule_id}"
    assert f'id="instance-{first}"' in markup
    # A change made meanwhile (as the evaluator would): the same address shows it.
    second = add_instance(site.database_url, rule_id, host="b", sequence=1)
    again = await site.http.get(url, headers=FRAGMENT)
    assert again.status_code == 200
    assert "<html" not in again.text  # the fragment, as htmx asks for it
    assert "HX-Request" in again.headers["vary"]
    assert again.headers["cache-control"].startswith("no-store")
    _, fresh = live_list(again.text)
    assert listed(fresh + "</section>", "open") == [second, first]


async def test_a_rules_page_names_its_open_instances_and_its_rule(site: Site) -> None:
    rule_id = await site.rule("disk")
    instance = add_instance(site.database_url, rule_id, host="a")
    await site.sign_in("read")
    page = await site.http.get(f"/ui/alerts/rules/{rule_id}", headers=FRAGMENT)
    assert page.status_code == 200
    found = re.search(
        r'<div id="rule-instances-live" data-alerts-live data-live-url="([^"]*)"\s+'
        r'data-rule-id="(\d+)" tabindex="-1">(.*?)</section>\s*</div>',
        page.text,
        re.S,
    )
    assert found, page.text[:3000]
    assert (html.unescape(found[1]), int(found[2])) == (f"/ui/alerts/rules/{rule_id}", rule_id)
    assert f'id="instance-{instance}"' in found[3]


async def test_the_live_address_is_refused_as_the_page_is(site: Site) -> None:
    # No session: htmx (and the script) are told where to sign in.
    anonymous = await site.http.get("/ui/alerts?state=firing", headers=FRAGMENT)
    assert anonymous.status_code == 200
    assert anonymous.headers["hx-redirect"].startswith("/ui/sign-in?next=%2Fui%2Falerts")
    assert "instance-" not in anonymous.text
    # Bad filters: a 400 naming them, even as a fragment, and no list.
    await site.sign_in("read")
    for params in (
        {"state": "resolved"},
        {"rule_id": "\x00"},
        {"severity": "ü" * 5000},
        {"cursor": "x" * 10000},
        {"nonsense": "1"},
    ):
        refused = await site.http.get("/ui/alerts", params=params, headers=FRAGMENT)
        assert refused.status_code == 400, params
        assert next(iter(params)) in refused.text  # named (a page, or the edge's problem)
        assert "data-alerts-live" not in refused.text


async def test_a_sessions_websocket_hears_a_resolve_made_on_a_page(site: Site) -> None:
    rule_id = await site.rule("latency")
    instance = add_instance(site.database_url, rule_id, host="a")
    reader = await site.sign_in("read")
    assert reader
    cookie = "; ".join(f"{name}={value}" for name, value in site.http.cookies.items())
    headers = [(b"Cookie", cookie.encode()), (b"Origin", SITE.encode())]
    base_url = str(site.http.base_url).rstrip("/")
    async with open_websocket_url(
        ws_url(base_url), extra_headers=headers, connect_timeout=10, disconnect_timeout=5
    ) as ws:
        try:
            await subscribe(ws, "alerts")
            # Another operator, signed in elsewhere with a write key, resolves it.
            csrf = await site.sign_in("write")
            done = await site.post(f"/ui/alerts/instances/{instance}/resolve", {"csrf_token": csrf})
            assert done.status_code == 303
            with trio.fail_after(10):
                message = await receive(ws)
            assert message["type"] == "data" and message["channel"] == "alerts"
            [item] = message["items"]
            assert (item["instance_id"], item["rule_id"]) == (instance, rule_id)
            assert (item["from"], item["to"]) == ("firing", "resolved")
            assert item["actor"] == "alerts live write"
        finally:
            await trio.aclose_forcefully(ws._stream)
