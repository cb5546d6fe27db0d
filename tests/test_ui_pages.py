"""The UI's pages and static files over plain HTTP: guards, forms, fragments, caching, compression.

The browser tests (test_ui_browser.py) see them as a user does; these pin
the HTTP details and the hostile cases a browser never sends.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import MakeKey, RunningService, StartService, make_settings
from monitor.domain.accept_encoding import accepts_coding
from monitor.web.static_assets import asset_url, versioned_name

SITE = "http://monitor.test"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
async def site(start_service: StartService, database_url: str, tmp_path: Path) -> RunningService:
    return await start_service(make_settings(database_url, tmp_path, public_url=SITE))


@pytest.fixture
async def http(site: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.base_url, timeout=10) as client:
        yield client


async def signed_in(http: httpx.AsyncClient, token: str) -> None:
    response = await http.post("/ui/sign-in", data={"key": token}, headers={"Origin": SITE})
    assert response.status_code == 303, response.text


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/", "/ui/sign-in"),
        ("/ui/events", "/ui/sign-in?next=%2Fui%2Fevents"),
        ("/ui/keys?x=1", "/ui/sign-in?next=%2Fui%2Fkeys%3Fx%3D1"),
    ],
)
async def test_signed_out_a_page_sends_the_browser_to_sign_in(
    http: httpx.AsyncClient, path: str, location: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == location


async def test_an_api_key_does_not_open_a_page(http: httpx.AsyncClient, admin_token: str) -> None:
    response = await http.get("/", headers={"X-API-Key": admin_token})
    assert response.status_code == 303


@pytest.mark.parametrize(
    "hostile",
    ['"><script>alert(1)</script>', "//evil.test", "https://evil.test/", "/\\evil.test"],
)
async def test_the_sign_in_form_carries_only_a_safe_next(
    http: httpx.AsyncClient, hostile: str
) -> None:
    page = await http.get("/ui/sign-in", params={"next": hostile})
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert 'name="next" value="/"' in page.text
    assert page.headers["cache-control"] == "no-store"


async def test_the_sign_in_form_keeps_a_path_of_this_site(http: httpx.AsyncClient) -> None:
    page = await http.get("/ui/sign-in", params={"next": "/ui/metrics"})
    assert 'name="next" value="/ui/metrics"' in page.text
    assert re.search(r'<form method="post" action="/ui/sign-in" autocomplete="off">', page.text)


async def test_a_refused_browser_sign_in_shows_the_form_and_never_the_key(
    http: httpx.AsyncClient, make_key: MakeKey
) -> None:
    wrong = "mon_deadbeef_" + "A" * 40
    page = await http.post(
        "/ui/sign-in",
        data={"key": wrong, "next": "/ui/events"},
        headers={"Origin": SITE, "Accept": BROWSER_ACCEPT},
    )
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert "Invalid API key" in page.text
    assert wrong not in page.text and "deadbeef" not in page.text
    assert 'name="next" value="/ui/events"' in page.text
    assert "set-cookie" not in page.headers
    _, ingest = await make_key("ingest")
    refused = await http.post(
        "/ui/sign-in", data={"key": ingest}, headers={"Origin": SITE, "Accept": BROWSER_ACCEPT}
    )
    assert refused.status_code == 403 and "cannot sign in" in refused.text
    assert ingest not in refused.text
    foreign = await http.post(
        "/ui/sign-in",
        data={"key": wrong},
        headers={"Origin": "http://evil.test", "Accept": BROWSER_ACCEPT},
    )
    assert foreign.status_code == 403 and "Origin" in foreign.text


async def test_an_api_style_client_still_gets_a_problem(http: httpx.AsyncClient) -> None:
    response = await http.post("/ui/sign-in", data={"key": "nope"}, headers={"Origin": SITE})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_signed_in_a_page_is_whole_or_a_fragment_for_htmx(
    http: httpx.AsyncClient, admin_token: str
) -> None:
    await signed_in(http, admin_token)
    full = await http.get("/")
    assert full.status_code == 200
    assert full.text.lstrip().lower().startswith("<!doctype html>")
    assert "HX-Request" in full.headers["vary"]
    assert full.headers["cache-control"] == "no-store"
    assert 'name="csrf_token"' in full.text
    fragment = await http.get("/ui/events", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert not fragment.text.lstrip().lower().startswith("<!doctype")
    assert 'aria-label="Pages"' not in fragment.text  # the shell's navigation
    assert "<title>Events · monitor</title>" in fragment.text
    boosted = await http.get(
        "/ui/events", headers={"HX-Request": "true", "HX-Request-Type": "full"}
    )
    assert boosted.text.lstrip().lower().startswith("<!doctype html>")


async def test_a_read_key_is_refused_an_admin_page_with_a_page(
    http: httpx.AsyncClient, make_key: MakeKey
) -> None:
    _, token = await make_key("read")
    await signed_in(http, token)
    home = await http.get("/")
    assert 'href="/ui/keys"' not in home.text and 'href="/ui/audit"' not in home.text
    refused = await http.get("/ui/keys")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "admin role" in refused.text


async def test_pages_run_no_inline_script(http: httpx.AsyncClient, admin_token: str) -> None:
    await signed_in(http, admin_token)
    for path in ("/", "/ui/events", "/ui/sign-in"):
        page = await http.get(path, follow_redirects=True)
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["x-content-type-options"] == "nosniff"
        # Scripts come from files; a JSON data block (chart data) is never run.
        assert not re.search(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))", page.text), (
            path
        )
        assert not re.search(r"\son[a-z]+=", page.text), path


async def test_html_is_gzip_compressed_when_accepted(
    http: httpx.AsyncClient, admin_token: str
) -> None:
    await signed_in(http, admin_token)
    # A page whose text does not move between two requests (the overview's live numbers do).
    raw = await http.get("/ui/events", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in raw.headers["vary"]
    plain = await http.get("/ui/events", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.text == raw.text  # httpx decoded the first
    api = await http.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in api.headers


async def test_a_versioned_static_file_is_immutable_and_precompressed(
    http: httpx.AsyncClient,
) -> None:
    url = asset_url("app.css")
    assert re.fullmatch(r"/static/app\.[0-9a-f]{10}\.css", url)
    async with http.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert gzip.decompress(body) == (Path("static") / "app.css").read_bytes()
    again = await http.get(url, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    identity = await http.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers
    assert identity.headers["etag"] != response.headers["etag"]
    plain = await http.get("/static/app.css")
    assert plain.status_code == 200 and plain.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/static/app.0000000000.css",
        "/static/../pyproject.toml",
        "/static/%2e%2e/pyproject.toml",
        "/static/vendor/fetch.sh",
        "/static/vendor/../../src/monitor/__init__.py",
        "/static/app.css%00.js",
    ],
)
async def test_only_the_scanned_static_files_are_served(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 404, path


def test_versioned_names_keep_the_extension() -> None:
    assert versioned_name("vendor/htmx-4.0.1.min.js", "abc") == "vendor/htmx-4.0.1.min.abc.js"
    assert versioned_name("NOTICE", "abc") == "NOTICE.abc"


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZIP;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("br", False),
        ("", False),
        (None, False),
        ("gzip;q=nan", False),
        ("gzip;q=2", False),
        ("gzip;q=abc, *", True),
    ],
)
def test_accept_encoding(header: str | None, accepted: bool) -> None:
    assert accepts_coding(header, "gzip") is accepted


@given(st.text(max_size=200))
def test_accept_encoding_never_fails_on_any_header(header: str) -> None:
    assert accepts_coding(header, "gzip") in (True, False)


@given(st.lists(st.sampled_from(["br", "deflate", "zstd", "identity"]), max_size=4))
def test_a_header_without_gzip_or_a_wildcard_refuses_it(codings: list[str]) -> None:
    assert accepts_coding(", ".join(codings), "gzip") is False


async def test_signed_in_the_sign_in_page_moves_on(
    http: httpx.AsyncClient, admin_token: str
) -> None:
    await signed_in(http, admin_token)
    onward = await http.get("/ui/sign-in", params={"next": "/ui/system"})
    assert onward.status_code == 303 and onward.headers["location"] == "/ui/system"
    away = await http.get("/ui/sign-in", params={"next": "//evil.test"})
    assert away.headers["location"] == "/"


async def test_head_of_a_static_file_has_its_length_and_no_body(http: httpx.AsyncClient) -> None:
    url = asset_url("app.js")
    head = await http.head(url, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == (Path("static") / "app.js").stat().st_size


async def test_signed_out_htmx_is_told_to_load_the_sign_in_page_whole(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/ui/events", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/ui/sign-in?next=%2Fui%2Fevents"
    assert response.content == b""
