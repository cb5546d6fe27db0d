"""Screenshot every page of the web UI, light and dark, into docs/screenshots/.

Not part of the test run: run it after changing how a page looks, then look
at the pictures. It starts the service the way the browser tests do (its own
thread, a throw-away database on the test PostgreSQL, Redis as the tests use
it) and drives /usr/bin/chromium.

    PYTHONPATH=src python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import re
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import Page  # noqa: E402

from alert_helpers import add_instance  # noqa: E402
from browser_harness import chromium, create_key, sign_in, ui_service  # noqa: E402
from conftest import ThreadedService, create_database, drop_database  # noqa: E402
from delivery_log_helpers import message, put  # noqa: E402
from monitor.storage.migrate import apply_migrations  # noqa: E402
from monitor.web.ui.navigation import PAGES  # noqa: E402

VIEWPORT = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}  # a phone
SCHEMES = ("light", "dark")


def admin_pages(page: Page, base_url: str, out: Path, scheme: str) -> None:
    """A key just created (shown once) and the revoke confirmation."""
    page.goto(base_url + "/ui/keys")
    page.get_by_label("Name").fill(f"ci deploys ({scheme})")
    page.get_by_label("Role").select_option("ingest")
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("heading", name=re.compile("created")).wait_for()
    page.screenshot(path=out / f"keys-created-{scheme}.png")
    page.goto(base_url + "/ui/keys")
    page.get_by_role("link", name=f"Revoke ci deploys ({scheme})").click()
    page.get_by_role("button", name="Revoke the key").wait_for()
    page.screenshot(path=out / f"key-revoke-{scheme}.png")


def error_group_page(page: Page, base_url: str, out: Path, scheme: str) -> None:
    """The busiest error group's own page (the list is one of PAGES)."""
    page.goto(base_url + "/ui/error-groups")
    page.locator("table.groups tbody th a").first.click()
    page.get_by_role("heading", name="Recent events").wait_for()
    page.screenshot(path=out / f"error-group-{scheme}.png", full_page=True)


def seed_dashboard(site: ThreadedService) -> None:
    """The kinds the default dashboard lacks, below its own: every kind on one page."""
    for widget in (
        {
            "title": "Ingest now",
            "kind": "gauge",
            "x": 0,
            "y": 8,
            "w": 3,
            "h": 3,
            "query": {"kind": "overview", "range": "24h"},
            "options": {"field": "ingest.events_per_second", "unit": "events/s", "max": 100},
        },
        {
            "title": "Latest errors",
            "kind": "events",
            "x": 3,
            "y": 8,
            "w": 5,
            "h": 3,
            "query": {"min_level": "error", "limit": 8},
        },
        {
            "title": "Busiest sources",
            "kind": "top",
            "x": 8,
            "y": 8,
            "w": 4,
            "h": 3,
            "query": {"type": "sources", "range": "24h"},
        },
        {
            "title": "When events arrive",
            "kind": "heatmap",
            "x": 0,
            "y": 11,
            "w": 12,
            "h": 3,
            "query": {"kind": "events", "range": "7d"},
        },
    ):
        created = httpx.post(
            f"{site.base_url}/api/v1/dashboard/widgets",
            json=widget,
            headers={"X-API-Key": site.admin_token},
            timeout=30,
        )
        created.raise_for_status()


def dashboard_page(page: Page, base_url: str, out: Path, scheme: str) -> None:
    """The default dashboard (the list is one of PAGES), its charts drawn."""
    page.goto(base_url + "/ui/dashboards/1")
    page.locator(".dash-grid .uplot").nth(1).wait_for()
    page.screenshot(path=out / f"dashboard-{scheme}.png", full_page=True)


def arrange_page(page: Page, base_url: str, out: Path, scheme: str) -> None:
    """The default dashboard's Move and resize page: its grid, one widget held over another."""
    page.goto(base_url + "/ui/dashboards/1/arrange")
    grid = page.locator(".arrange-grid")
    grid.wait_for()
    page.screenshot(path=out / f"dashboard-arrange-{scheme}.png", full_page=True)
    held = page.locator(".arrange-box").nth(1).bounding_box()
    assert held is not None
    x, y = held["x"] + held["width"] / 2, held["y"] + held["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - held["width"] / 2, y + 40, steps=5)
    page.screenshot(path=out / f"dashboard-arrange-drag-{scheme}.png")
    page.mouse.up()  # refused: over another widget, so nothing is saved


def dashboard_forms(page: Page, base_url: str, out: Path, scheme: str) -> None:
    """A widget's form with its live preview, typed into; a new dashboard's form, refused."""
    page.goto(base_url + "/ui/dashboards/1")
    page.locator(".widget-edit").first.click()
    page.get_by_label("Title", exact=True).fill("Events by level (last hour)")
    page.get_by_label("Query (the parameters of the route that draws it)").fill(
        "kind=events&group_by=level&range=1h"
    )
    page.locator("#widget-preview").get_by_role(
        "heading", name="Events by level (last hour)"
    ).wait_for()
    page.locator("#widget-preview .uplot").wait_for()
    page.screenshot(path=out / f"dashboard-widget-{scheme}.png", full_page=True)
    page.goto(base_url + "/ui/dashboards/new")
    page.get_by_label("Name").fill("overview")
    page.get_by_role("button", name="Create the dashboard").click()
    page.get_by_role("alert").wait_for()
    page.screenshot(path=out / f"dashboard-new-{scheme}.png", full_page=True)


OVERVIEW_SOURCES = ("checkout", "payments", "search", "auth")
OVERVIEW_ERRORS = (
    ("error", "payments", "card declined by issuer"),
    ("error", "checkout", "timeout calling inventory"),
    ("critical", "payments", "ledger out of balance"),
    ("error", "auth", "token signature invalid"),
)


def seed_overview(site: ThreadedService) -> None:
    """A day of events, so the overview's tiles, charts and lists show something real."""
    chance = random.Random(15)  # noqa: S311 (made-up data, the same every run)
    now = datetime.now(UTC)
    events = []
    for minute in range(0, 24 * 60, 4):
        moment = now - timedelta(minutes=minute, seconds=30)
        busy = 3 + int(2 * abs(12 - (minute // 60 + 6) % 24) / 12 * 3)
        for _ in range(busy):
            level = chance.choices(["debug", "info", "warning"], [2, 8, 1])[0]
            source = chance.choice(OVERVIEW_SOURCES)
            events.append(
                {
                    "type": "request",
                    "level": level,
                    "source": source,
                    "message": f"{source} handled a request",
                    "time": moment.isoformat(),
                }
            )
        if chance.random() < 0.25:
            level, source, message = chance.choice(OVERVIEW_ERRORS)
            events.append(
                {
                    "type": "failure",
                    "level": level,
                    "source": source,
                    "message": message,
                    "time": moment.isoformat(),
                }
            )
    for start in range(0, len(events), 1000):
        response = httpx.post(
            f"{site.base_url}/api/v1/events/bulk",
            json=events[start : start + 1000],
            headers={"X-API-Key": site.admin_token},
            timeout=30,
        )
        response.raise_for_status()


def seed_event(site: ThreadedService) -> str:
    """One error with attributes, trace and group, for the event's page."""
    response = httpx.post(
        f"{site.base_url}/api/v1/events",
        json={
            "type": "failure",
            "level": "error",
            "source": "payments",
            "message": "card declined by issuer: do_not_honor (order 84213)",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "attributes": {
                "http.status": 402,
                "order_id": "84213",
                "retryable": False,
                "issuer": {"name": "Example Bank", "codes": ["05", "do_not_honor"]},
                "request_url": "https://payments.example.test/v2/charges?"
                + "&".join(f"item{n}=sku-{n:04d}" for n in range(12)),
            },
        },
        headers={"X-API-Key": site.admin_token},
        timeout=30,
    )
    response.raise_for_status()
    event_id: str = response.json()["id"]
    return event_id


def seed_metrics(site: ThreadedService) -> None:
    """Six hours of a latency metric from three hosts, for the Metrics explorer."""
    now = datetime.now(UTC)
    samples = [
        {
            "name": "http_request_seconds",
            "value": round(base + 0.04 * math.sin(minute / (9 + number)) + 0.002 * (minute % 7), 4),
            "time": (now - timedelta(minutes=minute)).isoformat(),
            "labels": {"host": host, "region": region},
        }
        for number, (host, region, base) in enumerate(
            (("web-1", "eu", 0.18), ("web-2", "eu", 0.24), ("web-3", "us", 0.31))
        )
        for minute in range(1, 360)
    ]
    response = httpx.post(
        f"{site.base_url}/api/v1/metrics/bulk",
        json=samples,
        headers={"X-API-Key": site.admin_token},
        timeout=30,
    )
    response.raise_for_status()


ALERT_RULES = (
    ("api latency high", "warning", {"service": "api"}),
    ("checkout errors", "critical", {"service": "checkout"}),
    ("disk almost full", "critical", {"service": "storage"}),
)


def seed_alerts(site: ThreadedService, database_url: str) -> int:
    """Three rules (disabled, so the evaluator leaves these made-up instances alone) with
    firing, pending, acknowledged, no-data and resolved instances and a latest run each."""
    rule_ids = []
    for name, severity, labels in ALERT_RULES:
        response = httpx.post(
            f"{site.base_url}/api/v1/alerts",
            json={
                "name": name,
                "kind": "metric_threshold",
                "enabled": False,
                "selector": {"name": "http_request_seconds", "labels": labels},
                "aggregation": "p95",
                "window": "5m",
                "group_by": ["host"],
                "comparator": ">",
                "threshold": 0.5,
                "for": "2m",
                "severity": severity,
                "labels": {"team": "platform"},
                "annotations": {"summary": "p95 {{ value | round(2) }} s on {{ labels.host }}"},
            },
            headers={"X-API-Key": site.admin_token},
            timeout=30,
        )
        response.raise_for_status()
        rule_ids.append(int(response.json()["id"]))
    latency, checkout, disk = rule_ids
    now = datetime.now(UTC)
    ago = now - timedelta(minutes=40)
    add_instance(database_url, latency, host="web-1", opened_at=ago)
    add_instance(database_url, latency, host="web-2", opened_at=now - timedelta(minutes=12))
    add_instance(database_url, latency, state="pending", host="web-3", opened_at=now)
    acknowledged = add_instance(database_url, checkout, host="shop-1", severity="critical")
    add_instance(database_url, disk, state="no_data", host="db-1", severity="critical")
    for hours in (3, 9):
        add_instance(
            database_url,
            latency,
            state="resolved",
            host=f"batch-{hours}",
            closed=True,
            opened_at=now - timedelta(hours=hours),
        )
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "update alert_instances set acknowledged_by = 'on-call', acknowledged_at = now(), "
            "acknowledged_note = 'rolling back release 2026.12.3' where id = %s",
            (acknowledged,),
        )
        for rule_id, failed in ((latency, None), (checkout, None), (disk, "the read timed out")):
            connection.execute(
                "insert into alert_rule_runs (rule_id, evaluated_at, next_due_at, groups, "
                "failed, epoch) values (%s, %s, %s, 3, %s, 1)",
                (rule_id, now - timedelta(seconds=20), now + timedelta(seconds=40), failed),
            )
    return latency


def alert_pages(page: Page, base_url: str, out: Path, scheme: str, rule_id: int) -> None:
    """The rules list and one rule's page (the instances page is one of PAGES)."""
    page.goto(base_url + "/ui/alerts/rules")
    page.locator("table.rules").wait_for()
    page.screenshot(path=out / f"alert-rules-{scheme}.png", full_page=True)
    page.goto(f"{base_url}/ui/alerts/rules/{rule_id}")
    page.get_by_role("heading", name="History").wait_for()
    page.screenshot(path=out / f"alert-rule-{scheme}.png", full_page=True)


def seed_silences(site: ThreadedService, database_url: str) -> int:
    """An active silence muting web-1, a pending one and an expired one; the id of the
    web-2 instance, whose labels the new-silence form is prefilled with."""
    now = datetime.now(UTC)
    bodies: list[dict[str, Any]] = [
        {
            "matchers": [{"name": "host", "op": "=", "value": "batch-9"}],
            "duration": "1h",
            "comment": "batch host retired",
        },
        {
            "matchers": [
                {"name": "team", "op": "=~", "value": "platform|data"},
                {"name": "severity", "op": "!=", "value": "critical"},
            ],
            "starts_at": (now + timedelta(days=1)).isoformat(),
            "duration": "4h",
            "comment": "planned database failover, change CHG-1042",
        },
        {
            "matchers": [{"name": "host", "op": "=", "value": "web-1"}],
            "duration": "2h",
            "comment": "replacing the disk of web-1 (ticket OPS-318)",
        },
    ]
    made = []
    for body in bodies:
        response = httpx.post(
            f"{site.base_url}/api/v1/silences",
            json=body,
            headers={"X-API-Key": site.admin_token},
            timeout=30,
        )
        response.raise_for_status()
        made.append(int(response.json()["id"]))
    httpx.delete(
        f"{site.base_url}/api/v1/silences/{made[0]}",
        headers={"X-API-Key": site.admin_token},
        timeout=30,
    ).raise_for_status()
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "select id from alert_instances where labels->>'host' = 'web-2'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def silence_form(page: Page, base_url: str, out: Path, scheme: str, instance_id: int) -> None:
    """The new-silence form prefilled from an instance (the list is one of PAGES)."""
    page.goto(f"{base_url}/ui/silences/new?instance_id={instance_id}")
    page.get_by_role("heading", level=1, name="New silence").wait_for()
    page.screenshot(path=out / f"silence-new-{scheme}.png", full_page=True)


class _Teapot(BaseHTTPRequestHandler):
    """The receiver of the channel tested on the screenshot: 418 and a short body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"error": "I am a teapot", "hint": "short and stout"}'
        self.send_response(418)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


def seed_notifications(site: ThreadedService, receiver_url: str) -> dict[str, int]:
    """Channels of three kinds (one tested against `receiver_url`), two policies and the
    default one sending to them, an inhibition rule."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{site.base_url}{path}", json=body, headers={"X-API-Key": site.admin_token}, timeout=30
        )
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    hook = post(
        "/api/v1/channels",
        {
            "name": "ops webhook",
            "kind": "webhook",
            "url": receiver_url,
            "secret": "a-long-random-shared-secret",
            "headers": {"X-Team": "ops"},
            "secret_headers": {"Authorization": "Bearer abc123"},
        },
    )
    mail = post(
        "/api/v1/channels",
        {
            "name": "ops mail",
            "kind": "email",
            "host": "smtp.example.com",
            "from": "monitor@example.com",
            "to": ["ops@example.com"],
        },
    )
    pager = post(
        "/api/v1/channels",
        {"name": "on-call pager", "kind": "pagerduty", "routing_key": "R0UT1NG", "enabled": False},
    )
    httpx.post(
        f"{site.base_url}/api/v1/channels/{hook['id']}/test",
        headers={"X-API-Key": site.admin_token},
        timeout=30,
    ).raise_for_status()
    critical = post(
        "/api/v1/notification-policies",
        {
            "name": "critical to on-call",
            "position": 10,
            "matchers": [{"name": "severity", "op": "=", "value": "critical"}],
            "channel_ids": [pager["id"], hook["id"]],
            "continue": True,
            "group_by": ["rule", "host"],
        },
    )
    post(
        "/api/v1/notification-policies",
        {
            "name": "database team",
            "position": 20,
            "matchers": [{"name": "team", "op": "=~", "value": "db|storage"}],
            "channel_ids": [mail["id"]],
            "group_by": ["rule"],
            "repeat_interval": "12h",
        },
    )
    default = httpx.get(
        f"{site.base_url}/api/v1/notification-policies/default",
        headers={"X-API-Key": site.admin_token},
        timeout=30,
    )
    httpx.put(
        f"{site.base_url}/api/v1/notification-policies/default",
        json={**default.json()["policy"], "channel_ids": [hook["id"]]},
        headers={"X-API-Key": site.admin_token, "If-Match": default.headers["etag"]},
        timeout=30,
    ).raise_for_status()
    post(
        "/api/v1/inhibition-rules",
        {
            "name": "critical mutes warning on the same host",
            "source_matchers": [{"name": "severity", "value": "critical"}],
            "target_matchers": [{"name": "severity", "value": "warning"}],
            "equal": ["host"],
        },
    )
    return {"hook": int(hook["id"]), "policy": int(critical["id"]), "pager": int(pager["id"])}


def seed_deliveries(database_url: str, seeded: dict[str, int]) -> int:
    """The delivery log: sent, retried, refused, one still queued; the retried one's id."""
    hook, pager = seeded["hook"], seeded["pager"]
    put(database_url, hook, age=timedelta(hours=3), body=message(host="db-2"), reason="resolved")
    put(
        database_url,
        pager,
        status="failed",
        age=timedelta(hours=2),
        attempts=[
            {
                "outcome": "failed",
                "status_code": 400,
                "error_kind": "status",
                "error": "refused for good: 400",
                "response": '{"error": "bad routing key"}',
            }
        ],
        last_error="refused for good: 400 Bad Request (the routing key is not known)",
    )
    retried = put(
        database_url,
        hook,
        age=timedelta(minutes=40),
        attempts=[
            {"outcome": "retrying", "error_kind": "timeout", "error": "no answer in 10 s"},
            {
                "outcome": "retrying",
                "status_code": 503,
                "error_kind": "status",
                "error": "503",
                "response": "Service Unavailable",
            },
            {"outcome": "delivered", "status_code": 200, "response": '{"accepted": true}'},
        ],
        body=message(host="web-1"),
    )
    put(
        database_url,
        hook,
        status="queued",
        attempts=[
            {"outcome": "retrying", "status_code": 429, "error_kind": "status", "error": "429"}
        ],
        last_error="429 Too Many Requests",
        reason="repeat",
    )
    return retried


def delivery_page(page: Page, base_url: str, out: Path, scheme: str, delivery_id: int) -> None:
    page.goto(f"{base_url}/ui/notifications/{delivery_id}")
    page.get_by_role("heading", level=1).wait_for()
    page.screenshot(path=out / f"delivery-{scheme}.png", full_page=True)
    # What a rule page's "Notifications sent for this rule" opens (the seeded rule 7).
    page.goto(f"{base_url}/ui/notifications?rule_id=7")
    page.get_by_role("heading", level=1).wait_for()
    page.screenshot(path=out / f"delivery-log-rule-{scheme}.png", full_page=True)


def notification_pages(
    page: Page, base_url: str, out: Path, scheme: str, seeded: dict[str, int]
) -> None:
    """The channel form, a test answered in place, the policy form, the phone's navigation
    (the lists are among PAGES)."""
    page.goto(f"{base_url}/ui/channels/{seeded['hook']}/edit")
    page.get_by_role("heading", level=1).wait_for()
    page.screenshot(path=out / f"channel-edit-{scheme}.png", full_page=True)
    page.goto(f"{base_url}/ui/channels/new?kind=email")
    page.get_by_role("heading", level=1, name="New channel").wait_for()
    page.screenshot(path=out / f"channel-new-{scheme}.png", full_page=True)
    page.goto(f"{base_url}/ui/channels")
    page.get_by_role("button", name="Test channel ops webhook").click()
    page.locator(f"#test-result-{seeded['hook']} .test-outcome").wait_for()
    page.screenshot(path=out / f"channel-test-{scheme}.png", full_page=True)
    page.goto(f"{base_url}/ui/notification-policies/{seeded['policy']}/edit")
    page.get_by_role("heading", level=1).wait_for()
    page.screenshot(path=out / f"notification-policy-edit-{scheme}.png", full_page=True)


def seed_editor_rule(site: ThreadedService) -> int:
    """An enabled rule over the seeded latency metric, so the editor's preview and backtest
    show a real series crossing its thresholds."""
    response = httpx.post(
        f"{site.base_url}/api/v1/alerts",
        json={
            "name": "web latency over 0.34 s",
            "kind": "metric_threshold",
            "selector": {"name": "http_request_seconds", "labels": {"region!": "ap"}},
            "aggregation": "max",
            "window": "5m",
            "group_by": ["host"],
            "comparator": ">",
            "threshold": 0.34,
            "resolve_threshold": 0.32,
            "interval": "1m",
            "for": "2m",
            "severity": "warning",
            "labels": {"team": "web"},
            "annotations": {"summary": "max {{ value | round(3) }} s on {{ labels.host }}"},
        },
        headers={"X-API-Key": site.admin_token},
        timeout=30,
    )
    response.raise_for_status()
    return int(response.json()["id"])


def rule_editor(page: Page, base_url: str, out: Path, scheme: str, rule_id: int) -> None:
    """The rule editor with its preview chart and a backtest over the seeded six hours."""
    page.goto(f"{base_url}/ui/alerts/rules/{rule_id}/edit")
    page.locator("#rule-preview .u-legend").wait_for()
    page.locator("#rule-preview_range").select_option("6h")
    page.locator("#rule-preview .u-legend").wait_for()
    start = datetime.now(UTC) - timedelta(hours=6)
    page.locator("#rule-from").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Backtest").click()
    page.locator("#backtest-result .u-legend").wait_for()
    page.wait_for_timeout(600)  # the preview's own redraw after the range changed
    page.locator("#rule-preview .u-legend").wait_for()
    page.screenshot(path=out / f"alert-rule-editor-{scheme}.png", full_page=True)


def metrics_page(page: Page, base_url: str, out: Path, scheme: str) -> None:
    """A grouped query, drawn (the bare page is only the form)."""
    page.goto(
        base_url + "/ui/metrics?name=http_request_seconds&aggregation=avg&group_by=host&range=6h"
    )
    page.locator("#metric-chart .u-legend").wait_for()
    page.screenshot(path=out / f"metrics-{scheme}.png", full_page=True)


@contextlib.contextmanager
def teapot() -> Iterator[str]:
    """A local receiver for the tested channel; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Teapot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    name = f"monitor_screenshots_{uuid.uuid4().hex[:8]}"
    database_url = create_database(name)
    try:
        apply_migrations(database_url)
        with (
            tempfile.TemporaryDirectory() as data_dir,
            ui_service(database_url, Path(data_dir)) as site,
            chromium() as (_, browser),
            teapot() as receiver_url,
        ):
            reader = create_key(site, "on-call reader", "read")
            seed_overview(site)
            event_id = seed_event(site)
            seed_metrics(site)
            seed_dashboard(site)
            alert_rule_id = seed_alerts(site, database_url)
            silenced_instance = seed_silences(site, database_url)
            editor_rule_id = seed_editor_rule(site)
            notifications = seed_notifications(site, receiver_url)
            retried_delivery = seed_deliveries(database_url, notifications)
            for scheme in SCHEMES:
                context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
                page = context.new_page()
                page.goto(site.base_url + "/ui/sign-in")
                page.screenshot(path=out / f"sign-in-{scheme}.png")
                page.get_by_label("API key").fill("mon_wrong_key")
                page.get_by_role("button", name="Sign in").click()
                page.screenshot(path=out / f"sign-in-refused-{scheme}.png")
                sign_in(page, site.base_url, site.admin_token)
                admin_pages(page, site.base_url, out, scheme)  # first: the audit log shows it
                for shown in PAGES:
                    page.goto(site.base_url + shown.path)
                    if shown.path == "/":  # the charts are drawn by script: wait for them
                        page.locator("#overview-live .uplot").nth(2).wait_for()
                    if shown.path == "/ui/alerts":  # its live list says so once subscribed
                        page.locator("p.live-state", has_text="live").wait_for()
                    page.screenshot(path=out / f"{shown.slug}-{scheme}.png", full_page=True)
                page.goto(f"{site.base_url}/ui/events/{event_id}")
                page.screenshot(path=out / f"event-{scheme}.png", full_page=True)
                error_group_page(page, site.base_url, out, scheme)
                metrics_page(page, site.base_url, out, scheme)
                alert_pages(page, site.base_url, out, scheme, alert_rule_id)
                silence_form(page, site.base_url, out, scheme, silenced_instance)
                rule_editor(page, site.base_url, out, scheme, editor_rule_id)
                dashboard_page(page, site.base_url, out, scheme)
                arrange_page(page, site.base_url, out, scheme)
                dashboard_forms(page, site.base_url, out, scheme)
                notification_pages(page, site.base_url, out, scheme, notifications)
                delivery_page(page, site.base_url, out, scheme, retried_delivery)
                page.set_viewport_size(NARROW)
                page.goto(site.base_url + "/")
                page.screenshot(path=out / f"overview-narrow-{scheme}.png")
                page.goto(site.base_url + "/ui/channels")
                page.screenshot(path=out / f"channels-narrow-{scheme}.png", full_page=True)
                context.close()
                context = browser.new_context(viewport=VIEWPORT, color_scheme=scheme)
                page = context.new_page()
                sign_in(page, site.base_url, reader)
                page.goto(site.base_url + "/ui/keys")
                page.screenshot(path=out / f"refused-read-key-{scheme}.png")
                context.close()
    finally:
        drop_database(name)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
