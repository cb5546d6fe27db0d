"""The notification pages in a real browser: the Test button shows the receiver's answer in
place (escaped), the channel form switches its inputs with the kind (and, without
JavaScript, asks for the kind first), and axe-core finds no serious or critical violation
on the pages, light and dark on a desktop, and dark on a phone.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser, Page

from browser_harness import Console, api, axe_violations, create_key, sign_in, ui_service
from conftest import RUN_ID, ThreadedService, create_database, drop_database
from monitor.storage.migrate import apply_migrations

PHONE = {"width": 390, "height": 844}


class Teapot(BaseHTTPRequestHandler):
    """A receiver that answers every POST 418 with markup in its body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"<i>short and stout</i>"
        self.send_response(418)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@dataclass(frozen=True)
class Site:
    service: ThreadedService
    database_url: str
    receiver_url: str

    @property
    def base_url(self) -> str:
        return self.service.base_url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Teapot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        apply_migrations(url)
        with ui_service(url, tmp_path_factory.mktemp("notifications")) as running:
            yield Site(running, url, f"http://127.0.0.1:{server.server_address[1]}/hook")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        drop_database(name)


@pytest.fixture(scope="module")
def admin(site: Site) -> str:
    return create_key(site.service, "notifications lead", "admin")


@pytest.fixture(scope="module")
def seeded(site: Site) -> dict[str, int]:
    """A channel to the teapot, a policy sending to it, an inhibition rule."""
    channel = api(
        site.service,
        "POST",
        "/api/v1/channels",
        json={
            "name": "teapot hook",
            "kind": "webhook",
            "url": site.receiver_url,
            "secret": "a-long-enough-signing-secret",
            "secret_headers": {"Authorization": "Bearer x"},
        },
    )
    policy = api(
        site.service,
        "POST",
        "/api/v1/notification-policies",
        json={
            "name": "critical to the teapot",
            "position": 10,
            "matchers": [{"name": "severity", "op": "=", "value": "critical"}],
            "channel_ids": [channel["id"]],
            "group_by": ["rule"],
        },
    )
    rule = api(
        site.service,
        "POST",
        "/api/v1/inhibition-rules",
        json={
            "name": "critical mutes warning",
            "source_matchers": [{"name": "severity", "value": "critical"}],
            "target_matchers": [{"name": "severity", "value": "warning"}],
            "equal": ["host"],
        },
    )
    return {"channel": channel["id"], "policy": policy["id"], "rule": rule["id"]}


def test_the_test_button_shows_the_receivers_answer_in_place(
    page: Page, site: Site, admin: str, seeded: dict[str, int], console: Console
) -> None:
    sign_in(page, site.base_url, admin)
    page.goto(f"{site.base_url}/ui/channels")
    page.evaluate("window.__kept = 'same document'")
    page.get_by_role("button", name="Test channel teapot hook").click()
    result = page.locator(f"#test-result-{seeded['channel']}")
    result.get_by_text("Not delivered").wait_for()
    assert "418" in result.inner_text()
    assert result.locator("pre").inner_text() == "<i>short and stout</i>"
    assert result.locator("pre i").count() == 0, "the body is text, not markup"
    assert page.evaluate("window.__kept") == "same document", "answered in place"
    assert axe_violations(page) == []
    page.reload()
    row = page.locator(f"#channel-{seeded['channel']}")
    assert "failed (418)" in " ".join(row.inner_text().split())
    assert console.errors == []


def test_the_form_switches_its_inputs_with_the_kind(
    page: Page, site: Site, admin: str, console: Console
) -> None:
    sign_in(page, site.base_url, admin)
    page.goto(f"{site.base_url}/ui/channels/new?kind=webhook")
    assert page.locator("#channel-url").is_visible()
    assert not page.locator("#channel-host").is_visible()
    page.get_by_label("Kind", exact=True).select_option("email")
    assert page.locator("#channel-host").is_visible()
    assert not page.locator("#channel-url").is_visible()
    assert not page.get_by_text("choose another kind").is_visible()
    page.locator("#channel-name").fill("ops mail")
    page.locator("#channel-host").fill("smtp.example.com")
    page.locator("#channel-from").fill("monitor@example.com")
    page.locator("#channel-to").fill("ops@example.com\noncall@example.com")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Save the channel").click()
    page.get_by_role("status").filter(has_text="The channel is saved.").wait_for()
    assert page.get_by_role("heading", level=1).inner_text() == "Channel “ops mail”"
    assert "ops@example.com, oncall@example.com" in page.locator("dl.facts").inner_text()
    assert console.errors == []


def test_without_javascript_the_kind_is_chosen_first(
    browser: Browser, site: Site, admin: str
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, admin)
        page.goto(f"{site.base_url}/ui/channels/new")
        page.get_by_label("PagerDuty").check()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/ui/channels/new?kind=pagerduty")
        assert page.locator("#channel-routing-key").is_visible()
        assert not page.locator("#channel-url").is_visible()
        page.locator("#channel-name").fill("on-call pager")
        page.get_by_role("button", name="Save the channel").click()
        page.get_by_role("alert").filter(has_text="The channel was not saved").wait_for()
        assert "required" in page.locator("#routing-key-error").inner_text()
        page.locator("#channel-routing-key").fill("R0UTING-KEY")
        page.get_by_role("button", name="Save the channel").click()
        page.get_by_role("status").filter(has_text="The channel is saved.").wait_for()
        assert "R0UTING-KEY" not in page.content()
    finally:
        context.close()


@pytest.mark.parametrize(("scheme", "phone"), [("light", False), ("dark", False), ("dark", True)])
def test_axe_finds_nothing_serious_on_the_pages(
    browser: Browser, site: Site, admin: str, seeded: dict[str, int], scheme: str, phone: bool
) -> None:
    context = browser.new_context(
        color_scheme=scheme, **({"viewport": PHONE, "is_mobile": True} if phone else {})
    )
    try:
        page = context.new_page()
        console = Console()
        console.watch(page)
        sign_in(page, site.base_url, admin)
        for path, heading in (
            ("/ui/channels", "Channels"),
            (f"/ui/channels/{seeded['channel']}", "Channel “teapot hook”"),
            ("/ui/channels/new", "New channel"),
            (f"/ui/channels/{seeded['channel']}/edit", "Edit the channel “teapot hook”"),
            (f"/ui/channels/{seeded['channel']}/delete", "Delete the channel “teapot hook”?"),
            ("/ui/notification-policies", "Policies"),
            ("/ui/notification-policies/new", "New policy"),
            ("/ui/notification-policies/default/edit", "Edit the default policy"),
            (
                f"/ui/notification-policies/{seeded['policy']}/delete",
                "Delete the policy “critical to the teapot”?",
            ),
            ("/ui/inhibition-rules", "Inhibition rules"),
            (
                f"/ui/inhibition-rules/{seeded['rule']}/edit",
                "Edit the inhibition rule “critical mutes warning”",
            ),
        ):
            page.goto(site.base_url + path)
            page.get_by_role("heading", level=1, name=heading).wait_for()
            assert axe_violations(page) == [], path
            if phone:  # the header and navigation fit the phone's width
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], (path, width)
        assert console.errors == []
    finally:
        context.close()
