"""Every HTML page the service serves is a complete document.

A page without a doctype renders in quirks mode, one without a charset is
guessed at, and one without a language is read out wrongly by screen readers.
The pages are found by asking every GET route (and every static .html file)
what it answers, so a page added later is checked without a new test.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from quart_trio import QuartTrio

from conftest import StartService
from monitor import service
from monitor.config import Settings
from monitor.resources import static_dir


@pytest.fixture
async def app_and_client(
    start_service: StartService,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    built: list[QuartTrio] = []
    real_create_app = service.create_app

    def capture(deps: Any) -> QuartTrio:
        built.append(real_create_app(deps))
        return built[-1]

    monkeypatch.setattr(service, "create_app", capture)
    running = await start_service(settings)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
        yield built[0], client


def page_paths(app: QuartTrio) -> list[str]:
    paths = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and not rule.arguments and not rule.websocket
    ]
    paths += [
        "/static/" + page.relative_to(static_dir()).as_posix()
        for page in static_dir().rglob("*.html")
    ]
    return sorted(paths)


def problems_of(html: str) -> list[str]:
    head = html.lstrip()[:2048]
    problems = []
    if not re.match(r"<!doctype html>", head, re.IGNORECASE):
        problems.append("does not start with <!doctype html>")
    if not re.search(r"<html\s[^>]*\blang=\"[a-z]{2}(-[A-Za-z]+)?\"", head):
        problems.append('has no <html lang="…">')
    if not re.search(r"<meta\s+charset=\"utf-8\"\s*/?>", head, re.IGNORECASE):
        problems.append('has no <meta charset="utf-8"> in its first 2 KiB')
    if not re.search(r"<title>[^<]+</title>", html):
        problems.append("has no <title>")
    return problems


async def test_every_html_page_is_a_complete_document(
    app_and_client: tuple[QuartTrio, httpx.AsyncClient], admin_token: str
) -> None:
    app, client = app_and_client
    # The UI's pages need a session: sign in as a browser would, so they render.
    origin = app.extensions["monitor"].identity.public_url
    signed_in = await client.post(
        "/ui/sign-in", data={"key": admin_token}, headers={"Origin": origin}
    )
    assert signed_in.status_code == 303, signed_in.text
    checked = {}
    for path in page_paths(app):
        response = await client.get(path, headers={"X-API-Key": admin_token})
        if response.is_redirect:  # a browser shows where it leads, which is checked too
            target = response.headers["location"].split("?", 1)[0]
            assert target in page_paths(app), (path, response.headers)
            continue
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        assert response.status_code == 200, (path, response.status_code)
        checked[path] = problems_of(response.text)
    assert {"/docs", "/", "/ui/keys"} <= set(checked), f"pages found: {sorted(checked)}"
    assert not any(checked.values()), checked


@pytest.mark.parametrize(
    ("page", "complaint"),
    [
        ("<head><title>x</title></head>", "doctype"),
        ('<!doctype html><html><head><meta charset="utf-8"><title>x</title>', "lang"),
        ('<!doctype html><html lang="en"><head><title>x</title>', "charset"),
        ('<!doctype html><html lang="en"><head><meta charset="utf-8">', "title"),
    ],
)
def test_an_incomplete_page_is_reported(page: str, complaint: str) -> None:
    assert any(complaint in problem for problem in problems_of(page))


def test_a_complete_page_passes() -> None:
    page = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>t</title>'
    assert problems_of(page) == []
