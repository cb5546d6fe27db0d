"""Driving Debian's Chromium with Playwright against the real service, for tests and scripts.

The service runs in its own thread (conftest.threaded) on a port chosen
before it starts, so that MONITOR_PUBLIC_URL can be the address the browser
really uses: the sign-in form's Origin check compares the two. Playwright's
sync API runs in the test's thread; the service's Trio loop runs in its own.

Chromium is `/usr/bin/chromium` (Debian's package; `playwright install` is
neither needed nor used). A missing browser fails the tests: nothing is
skipped.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from conftest import (
    RUN_ID,
    ThreadedService,
    create_database,
    drop_database,
    make_settings,
    threaded,
)
from monitor.storage.migrate import apply_migrations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = next((Path(__file__).parent / "vendor").glob("axe-core-*/axe.min.js"))
# What a key that may do everything is called on screen.
ADMIN_NAME = "threaded"


def free_port() -> int:
    """A port nobody listens on now; the service binds it a moment later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def ui_service(database_url: str, data_dir: Path) -> Iterator[ThreadedService]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, data_dir, port=port, public_url=url)
    with threaded(settings) as running:
        assert running.base_url == url, (running.base_url, url)
        yield running


@contextlib.contextmanager
def own_ui_service(data_dir: Path) -> Iterator[ThreadedService]:
    """ui_service on a database of its own (dropped afterwards): what a test module seeds
    there is all its pages show."""
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        apply_migrations(url)
        with ui_service(url, data_dir) as running:
            yield running
    finally:
        drop_database(name)


def api(site: ThreadedService, method: str, path: str, **kwargs: Any) -> Any:
    """The API as the admin key, answering 200 or 201: the JSON answer."""
    response = httpx.request(
        method,
        f"{site.base_url}{path}",
        headers={"X-API-Key": site.admin_token},
        timeout=10,
        **kwargs,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def create_key(service: ThreadedService, name: str, role: str) -> str:
    response = httpx.post(
        f"{service.base_url}/api/v1/keys",
        json={"name": name, "role": role},
        headers={"X-API-Key": service.admin_token},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


@contextlib.contextmanager
def chromium() -> Iterator[tuple[Playwright, Browser]]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield playwright, browser
        finally:
            browser.close()


@dataclass
class Console:
    """What a page logged: errors (CSP violations among them) and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _message(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text} ({page_of(message)})")


def page_of(message: ConsoleMessage) -> str:
    location: dict[str, Any] = message.location
    return str(location.get("url", "?"))


def sign_in(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/ui/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    # The click returns before the form's navigation starts; waiting for the
    # load state alone could return at once, on the sign-in page still shown.
    page.wait_for_url(lambda url: "/ui/sign-in" not in url)
    page.wait_for_load_state()


def axe_violations(page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """axe-core's violations of `impacts` on the page as it is now.

    Evaluated through the DevTools protocol, not added as a <script>: the
    page's policy (`script-src 'self'`) rightly refuses an inline script.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]],
        }
        for violation in result
        if violation["impact"] in impacts
    ]
