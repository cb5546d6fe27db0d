"""The alerts pages update live in a real browser: with the page open, samples make the
evaluator (ticking every 0.1 s) fire an instance, which appears without a reload;
another operator resolves it through the API and it moves to the resolved list without
a reload. The filter form's unsent choice and the focus survive the refreshes; the rule
page's open instances follow too; axe finds nothing serious after the updates.

"Without a reload" is checked with a marker set on `window`, which a reload loses.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from alert_helpers import add_instance
from browser_harness import Console, api, axe_violations, create_key, free_port, sign_in
from conftest import RUN_ID, ThreadedService, create_database, drop_database, make_settings
from conftest import threaded as threaded_service
from monitor.storage.migrate import apply_migrations

WAIT_MS = 30_000  # an evaluation every 5 s (the shortest interval), on a busy machine


@dataclass(frozen=True)
class Site:
    service: ThreadedService
    writer: str
    database_url: str  # where add_instance writes

    @property
    def base_url(self) -> str:
        return self.service.base_url

    def post_sample(self, metric: str, host: str, value: float) -> None:
        sample = {
            "name": metric,
            "type": "gauge",
            "labels": {"host": host},
            "value": value,
            "time": datetime.now(UTC).isoformat(),
        }
        answer = httpx.post(
            f"{self.base_url}/api/v1/metrics/bulk",
            json=[sample],
            headers={"X-API-Key": self.writer},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A service on a database of its own whose evaluator leads and ticks every 0.1 s."""
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        apply_migrations(url)
        port = free_port()
        settings = make_settings(
            url,
            tmp_path_factory.mktemp("alerts-live"),
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            alert_leader_poll=timedelta(seconds=0.1),
            alert_evaluator_tick=timedelta(seconds=0.1),
        )
        with threaded_service(settings) as running:
            yield Site(running, create_key(running, "on call", "write"), url)
    finally:
        drop_database(name)


def rule(site: Site, name: str, metric: str, *, enabled: bool = True) -> int:
    body: dict[str, Any] = {
        "name": name,
        "enabled": enabled,
        "kind": "metric_threshold",
        "selector": {"name": metric},
        "aggregation": "max",
        "window": "10m",
        "group_by": ["host"],
        "comparator": ">",
        "threshold": 90,
        "interval": "5s",
        "offset": "0s",
        "no_data": "ok",
        "annotations": {"summary": "{{ labels.host }} at {{ value }}"},
    }
    return int(api(site.service, "POST", "/api/v1/alerts", json=body)["id"])


def mark(page: Page) -> None:
    page.evaluate("window.notReloaded = true")


def still_marked(page: Page) -> bool:
    return bool(page.evaluate("window.notReloaded === true"))


def test_a_firing_instance_appears_and_a_resolve_elsewhere_moves_it_without_a_reload(
    page: Page, site: Site, console: Console
) -> None:
    metric = f"cpu_{uuid.uuid4().hex[:8]}"
    rule(site, "cpu high", metric)
    sign_in(page, site.base_url, site.writer)
    page.goto(f"{site.base_url}/ui/alerts")
    page.locator("p.live-state", has_text="live").wait_for()
    mark(page)
    open_now = page.locator("section[aria-labelledby=open-heading]")
    resolved = page.locator("section[aria-labelledby=resolved-heading]")
    assert open_now.locator("tbody tr").count() == 0
    # An unsent choice in the filter form, with the focus on it.
    page.get_by_label("Severity").select_option("critical")
    page.get_by_label("Severity").focus()

    site.post_sample(metric, "web-1", 95)
    row = open_now.locator("tbody tr", has_text="host=web-1")
    row.wait_for(timeout=WAIT_MS)
    assert "firing" in row.locator(".alert-state").inner_text()
    assert "web-1 at 95" in row.inner_text()
    assert still_marked(page)
    assert page.get_by_label("Severity").input_value() == "critical"
    assert page.evaluate("document.activeElement.id") == "alert-severity"
    assert page.url == f"{site.base_url}/ui/alerts"
    assert axe_violations(page) == []

    instance = int(str(row.get_attribute("id")).removeprefix("instance-"))
    # Focus inside the list (its Resolve link) stays there when the list is swapped.
    page.get_by_role("link", name=f"Resolve instance #{instance}").focus()
    answer = httpx.post(
        f"{site.base_url}/api/v1/alerts/instances/{instance}/resolve",
        headers={"X-API-Key": site.service.admin_token},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    moved = resolved.locator(f"#instance-{instance}")
    moved.wait_for(timeout=WAIT_MS)
    assert "resolved" in moved.locator(".alert-state").inner_text()
    assert open_now.locator(f"#instance-{instance}").count() == 0
    assert still_marked(page)
    # The link it was on is gone with the row: the focus is on the list, not lost.
    assert page.evaluate("document.activeElement.id") == "alerts-live"
    assert axe_violations(page) == []
    assert console.errors == []


def test_a_rules_page_shows_its_new_instances_without_a_reload(
    page: Page, site: Site, console: Console
) -> None:
    metric = f"disk_{uuid.uuid4().hex[:8]}"
    rule_id = rule(site, f"disk full {metric}", metric)
    sign_in(page, site.base_url, site.writer)
    page.goto(f"{site.base_url}/ui/alerts/rules/{rule_id}")
    page.locator("p.live-state", has_text="live").wait_for()
    mark(page)
    section = page.locator("section[aria-labelledby=instances-heading]")
    assert section.locator("tbody tr").count() == 0
    site.post_sample(metric, "db-1", 99)
    section.locator("tbody tr", has_text="host=db-1").wait_for(timeout=WAIT_MS)
    assert still_marked(page)
    page.emulate_media(color_scheme="dark")
    assert axe_violations(page) == []
    assert console.errors == []


def test_without_javascript_the_page_is_as_before(browser: Browser, site: Site) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.set_default_timeout(15_000)
        sign_in(plain, site.base_url, site.writer)
        plain.goto(f"{site.base_url}/ui/alerts")
        plain.get_by_role("heading", level=1, name="Alerts").wait_for()
        assert plain.locator("p.live-state").count() == 0  # only the script says it
        assert plain.locator("#alerts-live section").count() == 2
    finally:
        context.close()


def test_the_overviews_firing_count_follows_without_a_reload(
    page: Page, site: Site, console: Console
) -> None:
    """The overview refetches its live part only on news from the websocket; samples are
    not news to it, so the count changes only because the transition reached it."""
    metric = f"mem_{uuid.uuid4().hex[:8]}"
    rule(site, f"memory {metric}", metric)
    sign_in(page, site.base_url, site.writer)
    page.goto(f"{site.base_url}/")
    page.locator("#overview-live .live-state", has_text="live").wait_for()
    mark(page)
    firing = page.locator(".tile", has=page.locator("dt", has_text="Firing alerts"))
    before = int(firing.locator(".tile-value").inner_text())
    assert firing.locator(".tile-change").inner_text() == "instances firing now"
    site.post_sample(metric, "cache-1", 97)
    page.wait_for_function(
        """before => {
            const tile = [...document.querySelectorAll('.tile')]
                .find(t => t.querySelector('dt').textContent === 'Firing alerts');
            return tile && Number(tile.querySelector('.tile-value').textContent) > before;
        }""",
        arg=before,
        timeout=45_000,  # the overview's 10 s tick, the refetch, a busy machine
    )
    assert still_marked(page)
    assert console.errors == []


def test_a_burst_of_changes_costs_at_most_one_refetch_a_second(
    page: Page, site: Site, console: Console
) -> None:
    body = {
        "name": f"burst {uuid.uuid4().hex[:8]}",
        "kind": "metric_threshold",
        "enabled": False,  # nobody but this test changes its instances
        "selector": {"name": "unused"},
        "aggregation": "max",
        "window": "1m",
        "comparator": ">",
        "threshold": 1,
        "group_by": ["host"],
    }
    rule_id = int(api(site.service, "POST", "/api/v1/alerts", json=body)["id"])
    instances = [add_instance(site.database_url, rule_id, host=f"b{n}") for n in range(10)]
    sign_in(page, site.base_url, site.writer)
    page.goto(f"{site.base_url}/ui/alerts?rule_id={rule_id}")
    page.locator("p.live-state", has_text="live").wait_for()
    refetches: list[str] = []
    page.on(
        "request",
        lambda request: (
            refetches.append(request.url)
            if request.headers.get("hx-request") == "true" and "/ui/alerts" in request.url
            else None
        ),
    )
    began = time.monotonic()
    with httpx.Client(
        base_url=site.base_url, headers={"X-API-Key": site.writer}, timeout=10
    ) as client:
        for instance in instances:
            answer = client.post(f"/api/v1/alerts/instances/{instance}/resolve")
            assert answer.status_code == 200, answer.text
    took = time.monotonic() - began
    resolved = page.locator("section[aria-labelledby=resolved-heading] tbody tr")
    resolved.nth(9).wait_for(timeout=WAIT_MS)
    assert page.locator("section[aria-labelledby=open-heading] tbody tr").count() == 0
    # Ten changes; one refetch at the first, then at most one a second, and one more
    # for news that arrived during the last.
    assert 1 <= len(refetches) <= math.ceil(took) + 2, (len(refetches), took)
    assert set(refetches) == {f"{site.base_url}/ui/alerts?rule_id={rule_id}"}
    assert console.errors == []


def test_a_silence_made_elsewhere_marks_the_instance_muted_without_a_reload(
    page: Page, site: Site, console: Console
) -> None:
    # Disabled, so the evaluator leaves the instance written here alone.
    suffix = uuid.uuid4().hex[:8]
    rule_id = rule(site, f"quiet {suffix}", f"quiet_{suffix}", enabled=False)
    host = f"mute-{uuid.uuid4().hex[:6]}"
    instance = add_instance(site.database_url, rule_id, host=host)
    sign_in(page, site.base_url, site.writer)
    page.goto(f"{site.base_url}/ui/alerts/rules/{rule_id}")
    page.locator("p.live-state", has_text="live").wait_for()
    mark(page)
    row = page.locator(f"#instance-{instance}")
    assert row.locator(".muted-by").count() == 0
    silence = api(
        site.service,
        "POST",
        "/api/v1/silences",
        json={
            "matchers": [{"name": "host", "value": host}],
            "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "comment": "deploying",
        },
    )
    row.locator(".muted-by", has_text=f"silenced (#{silence['id']})").wait_for(timeout=WAIT_MS)
    assert still_marked(page)
    assert console.errors == []
