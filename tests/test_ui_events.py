"""The Events page over HTTP: the API's rows for the API's filters, paging, an event's
detail, bad filters and ids, roles and an outage.

The list is what GET /api/v1/events answers for the same filters (the form's
fields are translated to the API's parameters, then parsed by its parser);
the browser test (test_ui_events_browser.py) sees the live tail.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from conftest import MakeKey, RunningService, StartService, make_settings, set_connections_allowed
from events_helpers import ingest, tag
from monitor.domain.events import LEVEL_NUMBER, LEVELS, EventFilter
from monitor.domain.live_filters import parse_filter
from monitor.storage.migrate import apply_migrations
from monitor.web.ui.event_filters import api_query, live_filter
from test_ui_admin_pages import SITE, bootstrap_admin, signed_in

EVENT_LINK = re.compile(r'href="/ui/events/([0-9a-f-]{36})"')


@pytest.fixture
async def site(start_service: StartService, database_url: str, tmp_path: Path) -> RunningService:
    return await start_service(make_settings(database_url, tmp_path, public_url=SITE))


@pytest.fixture
async def http(site: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.base_url, timeout=10) as client:
        yield client


@pytest.fixture
async def reader(make_key: MakeKey) -> str:
    return (await make_key("read"))[1]


@pytest.fixture
async def poster(make_key: MakeKey) -> str:
    return (await make_key("ingest"))[1]


async def sign_in(http: httpx.AsyncClient, token: str) -> None:
    response = await http.post("/ui/sign-in", data={"key": token}, headers={"Origin": SITE})
    assert response.status_code == 303, response.text


def listed_ids(page: str) -> list[str]:
    return EVENT_LINK.findall(page)


async def api_ids(http: httpx.AsyncClient, token: str, params: list[tuple[str, str]]) -> list[str]:
    response = await http.get("/api/v1/events", params=params, headers={"X-API-Key": token})
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()["events"]]


@pytest.fixture
async def source(http: httpx.AsyncClient, poster: str) -> str:
    """A source of its own with a spread of types, levels, messages and attributes."""
    name = tag()
    events = [
        {
            "type": ("deploy", "http", "job")[n % 3],
            "level": LEVELS[n % len(LEVELS)],
            "source": name,
            "message": f"request {n} {'Timed OUT' if n % 4 == 0 else 'done'}",
            "attributes": {"status": 500 if n % 2 else "200", "region": f"r{n % 3}"},
        }
        for n in range(12)
    ]
    await ingest(http, poster, events)
    return name


# Form field → API parameters: the page's list is the API's list for them.
FILTERS: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]] = [
    ([], []),
    ([("type", "http")], [("type", "http")]),
    ([("type", "http,job")], [("type", "http,job")]),
    ([("level", "error"), ("level", "critical")], [("level", "error"), ("level", "critical")]),
    ([("min_level", "warning")], [("min_level", "warning")]),
    ([("q", "timed out")], [("q", "timed out")]),
    ([("attr", "status=500")], [("attr.status", "500")]),
    (
        [("attr", "status=200"), ("attr", "region=r1")],
        [("attr.status", "200"), ("attr.region", "r1")],
    ),
    ([("attr.region", "r2")], [("attr.region", "r2")]),
    (
        [("from", "2000-01-01T00:00"), ("to", "2000-01-02T00:00")],
        [("from", "2000-01-01T00:00:00Z"), ("to", "2000-01-02T00:00:00Z")],
    ),
    (
        [("from", "2000-01-01T00:00:00"), ("type", "deploy"), ("min_level", "info"), ("attr", "")],
        [("from", "2000-01-01T00:00:00Z"), ("type", "deploy"), ("min_level", "info")],
    ),
]


@pytest.mark.parametrize(("form", "api"), FILTERS)
async def test_the_list_is_the_apis_for_the_same_filters(
    http: httpx.AsyncClient,
    reader: str,
    source: str,
    form: list[tuple[str, str]],
    api: list[tuple[str, str]],
) -> None:
    await sign_in(http, reader)
    page = await http.get("/ui/events", params=[("source", source), *form])
    assert page.status_code == 200, page.text[-2000:]
    expected = await api_ids(http, reader, [("source", source), ("limit", "50"), *api])
    assert listed_ids(page.text) == expected
    if not expected:
        assert "No events match these filters" in page.text


async def test_the_form_shows_the_filters_back(
    http: httpx.AsyncClient, reader: str, source: str
) -> None:
    await sign_in(http, reader)
    page = await http.get(
        "/ui/events",
        params=[
            ("source", source),
            ("level", "error"),
            ("min_level", "info"),
            ("q", "a <b>"),
            ("attr", "status=500"),
            ("attr.region", "r1"),
            ("from", "2000-01-01T00:00"),
        ],
    )
    text = page.text
    assert f'name="source" type="text" value="{source}"' in text
    assert 'name="level" value="error" checked' in text
    assert 'name="level" value="info">' in text
    assert '<option value="info" selected>' in text
    assert 'value="a &lt;b&gt;"' in text and "<b>" not in text
    assert 'value="status=500"' in text and 'value="region=r1"' in text
    assert 'value="2000-01-01T00:00"' in text
    assert '<a href="/ui/events">Clear</a>' in text


async def test_rows_show_level_type_source_local_time_and_link_to_the_detail(
    http: httpx.AsyncClient, reader: str, poster: str
) -> None:
    name = tag()
    [event_id] = await ingest(
        http,
        poster,
        [{"type": "deploy", "level": "warning", "source": name, "message": "<i>x</i>"}],
    )
    await sign_in(http, reader)
    page = await http.get("/ui/events", params={"source": name})
    assert page.headers["cache-control"] == "no-store"
    row = page.text[page.text.index('<tbody id="event-rows">') :]
    assert '<span class="level level-warning">warning</span>' in row
    assert f"<td>deploy</td>\n      <td>{name}</td>" in row
    assert f'<a href="/ui/events/{event_id}">&lt;i&gt;x&lt;/i&gt;</a>' in row
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+\+00:00">[^<]+ UTC</time>', row)
    for header in ("Time", "Level", "Type", "Source", "Message"):
        assert f'<th scope="col">{header}</th>' in page.text


async def test_a_long_message_is_cut_in_the_list_and_heading_and_whole_in_the_detail(
    http: httpx.AsyncClient, reader: str, poster: str
) -> None:
    name = tag()
    message = "".join(f"{n % 10}" for n in range(300))
    [event_id] = await ingest(
        http, poster, [{"type": "t", "level": "info", "source": name, "message": message}]
    )
    await sign_in(http, reader)
    listed = await http.get("/ui/events", params={"source": name})
    # As static/events.js cuts a live row's: 199 characters and an ellipsis.
    assert f'<a href="/ui/events/{event_id}">{message[:199]}…</a>' in listed.text
    detail = await http.get(f"/ui/events/{event_id}")
    assert f'<h1 class="event-title">{message[:159]}…</h1>' in detail.text
    assert f'<pre class="wrapped">{message}</pre>' in detail.text


async def test_pages_go_back_with_the_apis_cursor_keeping_the_filters(
    http: httpx.AsyncClient, reader: str, source: str
) -> None:
    await sign_in(http, reader)
    everything = await api_ids(http, reader, [("source", source), ("type", "http")])
    assert len(everything) == 4
    first = await http.get("/ui/events", params={"source": source, "type": "http", "limit": "3"})
    assert listed_ids(first.text) == everything[:3]
    link = re.search(
        r'<a href="([^"]+)" hx-get="[^"]+" hx-target="#main" hx-push-url="true" rel="next">Older',
        first.text,
    )
    assert link, first.text[-1500:]
    target = html.unescape(link[1])
    assert "type=http" in target and "cursor=" in target
    second = await http.get(target)
    assert listed_ids(second.text) == everything[3:]
    assert 'rel="next"' not in second.text
    # The live tail belongs on the newest page only.
    assert 'id="events-live-filter"' in first.text
    assert 'id="events-live-filter"' not in second.text


async def test_the_live_filter_on_the_page_is_the_page_filters(
    http: httpx.AsyncClient, reader: str
) -> None:
    await sign_in(http, reader)
    page = await http.get(
        "/ui/events",
        params=[("type", "http"), ("level", "error"), ("q", "Boom"), ("attr", "code=7")],
    )
    found = re.search(
        r'<script type="application/json" id="events-live-filter">(.*?)</script>', page.text, re.S
    )
    assert found
    spec = json.loads(found[1])
    assert spec["subscribe"] == {"type": "http", "min_level": "error"}
    assert spec["match"]["text"] == "boom"
    assert spec["match"]["attributes"] == [["code", ["7", 7]]]
    assert re.search(r'data-page-script="/static/events\.[^"]*js"', page.text)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"level": "loud"}, "level"),
        ({"min_level": "9"}, "min_level"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-01T00:00", "to": "2026-01-01T00:00"}, "to"),
        ({"attr": "no-equals-sign"}, "attr"),
        ({"attr.status": "1e999"}, "attr.status"),
        ({"q": "x" * 201}, "q"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"sort": "time"}, "sort"),
        ({"type": ",".join(f"t{n}" for n in range(150))}, "type"),
    ],
)
async def test_a_bad_filter_is_a_400_page_naming_it(
    http: httpx.AsyncClient, reader: str, params: dict[str, str], field: str
) -> None:
    await sign_in(http, reader)
    refused = await http.get("/ui/events", params=params)
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/html")
    assert f"<li>{field}: " in refused.text
    assert "<table" not in refused.text and "events-live-filter" not in refused.text
    assert '<form class="filters event-filters"' in refused.text


async def test_an_events_detail_shows_its_fields_and_escaped_attributes(
    http: httpx.AsyncClient, reader: str, poster: str
) -> None:
    name = tag()
    long_value = "y" * 3000
    [event_id] = await ingest(
        http,
        poster,
        [
            {
                "type": "http",
                "level": "info",
                "source": name,
                "message": "<script>alert(1)</script>",
                "trace_id": "trace-1",
                "attributes": {
                    "html": "<img src=x onerror=alert(1)>",
                    "long": long_value,
                    "status": 500,
                    "nested": {"a": [1, "two"]},
                },
            }
        ],
    )
    await sign_in(http, reader)
    page = await http.get(f"/ui/events/{event_id}")
    assert page.status_code == 200
    text = page.text
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img" not in text and "&#34;&lt;img src=x onerror=alert(1)&gt;&#34;" in text
    assert '<th scope="row"><code>status</code></th><td><pre class="wrapped">500</pre>' in text
    assert f'<pre class="wrapped">&#34;{long_value}&#34;</pre>' in text
    assert "&#34;two&#34;" in text
    assert f"<code>{event_id}</code>" in text and "<code>trace-1</code>" in text
    assert "<dt>Error group</dt><dd>none</dd>" in text
    assert 'aria-current="page">Events</a>' in text


async def test_a_grouped_event_links_to_its_error_group(
    http: httpx.AsyncClient, reader: str, poster: str
) -> None:
    name = tag()
    [event_id] = await ingest(
        http, poster, [{"type": "exception", "level": "error", "source": name, "message": "boom"}]
    )
    stored = await http.get(f"/api/v1/events/{event_id}", headers={"X-API-Key": reader})
    group_id = stored.json()["group_id"]
    assert isinstance(group_id, int)
    await sign_in(http, reader)
    page = await http.get(f"/ui/events/{event_id}")
    assert f'<a href="/ui/error-groups/{group_id}">group {group_id}</a>' in page.text


@pytest.mark.parametrize(
    "event_id", ["5f0c2a8e-3b1d-4c6e-9a7f-1e2d3c4b5a69", "not-a-uuid", "0" * 40, "%3Cscript%3E"]
)
async def test_an_unknown_or_invalid_event_is_a_404_page(
    http: httpx.AsyncClient, reader: str, event_id: str
) -> None:
    await sign_in(http, reader)
    missing = await http.get(f"/ui/events/{event_id}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in missing.text
    assert "<script>" not in missing.text


async def test_without_a_session_the_pages_send_to_sign_in(http: httpx.AsyncClient) -> None:
    listed = await http.get("/ui/events", params={"type": "http"})
    assert listed.status_code == 303
    assert listed.headers["location"] == "/ui/sign-in?next=%2Fui%2Fevents%3Ftype%3Dhttp"
    one = await http.get(f"/ui/events/{uuid.uuid4()}")
    assert one.status_code == 303


async def test_every_role_that_reads_sees_the_events_in_the_navigation(
    http: httpx.AsyncClient, make_key: MakeKey
) -> None:
    for role in ("read", "write", "admin"):
        await sign_in(http, (await make_key(role))[1])
        page = await http.get("/ui/events")
        assert page.status_code == 200, role
        assert 'aria-current="page">Events</a>' in page.text
        assert 'class="not-built"' not in page.text.split('href="/ui/events"')[1].split(">")[0]


async def test_the_pages_are_whole_or_a_fragment_without_inline_script(
    http: httpx.AsyncClient, reader: str, source: str
) -> None:
    await sign_in(http, reader)
    [event_id] = await api_ids(http, reader, [("source", source), ("limit", "1")])
    for path, title in (("/ui/events", "Events"), (f"/ui/events/{event_id}", f"Event {event_id}")):
        full = await http.get(path)
        assert full.text.lstrip().lower().startswith("<!doctype html>")
        fragment = await http.get(path, headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert not fragment.text.lstrip().lower().startswith("<!doctype")
        assert f"<title>{title} · monitor</title>" in fragment.text
        for text in (full.text, fragment.text):
            assert not re.search(r"<script(?![^>]*\b(src=|type=\"application/json\"))", text)
            assert not re.search(r"\son[a-z]+=", text)


async def test_a_database_outage_is_a_503_page_with_retry_after(
    start_service: StartService, empty_database_url: str, tmp_path: Path
) -> None:
    apply_migrations(empty_database_url)
    service = await start_service(make_settings(empty_database_url, tmp_path, public_url=SITE))
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        await signed_in(client, await bootstrap_admin(empty_database_url))
        set_connections_allowed(empty_database_url, allowed=False)
        try:
            listed = await client.get("/ui/events")
            one = await client.get(f"/ui/events/{uuid.uuid4()}")
        finally:
            set_connections_allowed(empty_database_url, allowed=True)
    for refused in (listed, one):
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) > 0
        assert "<h1>Unavailable for now</h1>" in refused.text


# The form's translation and the live tail's subscription.

_keys = st.text(st.characters(codec="utf-8", exclude_characters="=\x00"), min_size=1, max_size=8)
_values = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)


@given(st.lists(st.tuples(_keys, _values), max_size=4))
def test_form_attributes_become_the_apis_attribute_parameters(
    pairs: list[tuple[str, str]],
) -> None:
    form = MultiDict([("attr", f"{key}={value}") for key, value in pairs])
    query, errors = api_query(form, page_size=50)
    expected = [(f"attr.{k.strip()}", v.strip()) for k, v in pairs if k.strip()]
    translated = [(n, v) for n, v in query.items(multi=True) if n.startswith("attr.")]
    # A blank value is dropped, like any blank field of the form.
    assert sorted(translated) == sorted(pair for pair in expected if pair[1])
    assert len(errors) == sum(1 for key, _ in pairs if not key.strip())
    assert query["limit"] == "50"


_levels = st.sampled_from(range(len(LEVELS)))
_names = st.sampled_from(["a", "b", "c"])


@given(
    st.lists(_names, max_size=2, unique=True),
    st.lists(_levels, max_size=3, unique=True),
    st.none() | _levels,
    st.lists(_names, max_size=2, unique=True),
    _names,
    _levels,
    _names,
)
def test_the_subscription_lets_through_every_event_the_filters_match(
    types: list[str],
    levels: list[int],
    min_level: int | None,
    sources: list[str],
    event_type: str,
    event_level: int,
    event_source: str,
) -> None:
    event_filter = EventFilter(
        types=tuple(types), levels=tuple(levels), min_level=min_level, sources=tuple(sources)
    )
    spec: dict[str, Any] = live_filter(event_filter)
    stream = parse_filter("events:realtime", spec["subscribe"])
    assert stream is not None
    matches = (
        (not types or event_type in types)
        and (not levels or event_level in levels)
        and (min_level is None or event_level >= min_level)
        and (not sources or event_source in sources)
    )
    if matches:
        assert stream.matches(event_type, event_source, event_level)
    lowest = spec["match"]["min_level"]
    assert lowest is None or LEVEL_NUMBER[lowest] <= max([*levels, min_level or 0])
