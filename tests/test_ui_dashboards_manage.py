"""Managing dashboards from the UI over HTTP: create, rename and describe, make the
default, delete a dashboard or a widget, and the widget form's live preview. Each goes
through the API's own steps (same refusals, same audit rows), carries the version it was
read at (412 page when stale), and is refused to a read key, without a session, without
the CSRF token or from another origin, with nothing changed.

The browser test (test_ui_dashboards_manage_browser.py) does the same as a user does.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conftest import StartService
from test_ui_dashboards import Site, audit_rows, dashboard_count
from ui_site import BROWSER_ACCEPT, FOREIGN, SITE, own_site

LONG_NAME = "n" * 201
LONG_DESCRIPTION = "d" * 2001


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    """A service on a database of its own: the fresh install's default dashboard only."""
    async with own_site(start_service, tmp_path, "manage", Site) as running:
        yield running


async def dashboard(site: Site, dashboard_id: int) -> dict[str, Any]:
    found: dict[str, Any] = await site.api_get(f"/api/v1/dashboards/{dashboard_id}")
    return found


def same_shape(by_page: dict[str, Any], by_api: dict[str, Any]) -> None:
    """An audit row written from a page is the API's: the same columns, the same snapshot."""
    assert set(by_page) == set(by_api)
    for part in ("before", "after"):
        assert (by_page[part] is None) == (by_api[part] is None)
        if by_page[part] is not None:
            assert set(by_page[part]) == set(by_api[part])
    assert by_page["actor_kind"] == by_api["actor_kind"] == "key"


# Creating.


async def test_a_dashboard_created_from_the_list_writes_the_apis_audit_row(site: Site) -> None:
    csrf = await site.sign_in("write")
    listed = await site.http.get("/ui/dashboards")
    assert '<a href="/ui/dashboards/new">New dashboard</a>' in listed.text
    form = await site.http.get("/ui/dashboards/new")
    assert form.status_code == 200
    assert 'action="/ui/dashboards"' in form.text and 'name="name"' in form.text
    made = await site.post(
        "/ui/dashboards", {"name": "Payments", "description": "Checkout <health>"}, csrf
    )
    assert made.status_code == 303, made.text
    new_id = int(made.headers["location"].split("/")[-1].split("?")[0])
    assert made.headers["location"] == f"/ui/dashboards/{new_id}?saved=created"
    shown = await site.http.get(made.headers["location"])
    assert "The dashboard is created." in shown.text
    assert "Checkout &lt;health&gt;" in shown.text
    stored = await dashboard(site, new_id)
    assert (stored["name"], stored["description"], stored["is_default"]) == (
        "Payments",
        "Checkout <health>",
        False,
    )
    await site.new_dashboard("By the API")
    by_page, by_api = audit_rows(site.database_url, "dashboard", "create")
    same_shape(by_page, by_api)
    assert by_page["resource_id"] == str(new_id)
    assert by_page["actor_name"] == "manage write"
    assert by_page["after"]["name"] == "Payments"


@pytest.mark.parametrize(
    ("name", "description", "status", "reason"),
    [
        ("", "", 400, "<code>name</code>: String should have at least 1 character"),
        ("   ", "", 400, "<code>name</code>: must be printable text, not only spaces"),
        (LONG_NAME, "", 400, "<code>name</code>: String should have at most 200 characters"),
        ("Fine", LONG_DESCRIPTION, 400, "<code>description</code>: String should have at most"),
        ("OVERVIEW", "", 409, "the name &#39;OVERVIEW&#39; is taken by dashboard 1"),
    ],
)
async def test_a_create_the_user_can_correct_is_the_form_again_and_stores_nothing(
    site: Site, name: str, description: str, status: int, reason: str
) -> None:
    csrf = await site.sign_in("write")
    before = dashboard_count(site.database_url)
    refused = await site.post("/ui/dashboards", {"name": name, "description": description}, csrf)
    assert refused.status_code == status, refused.text
    assert "Not saved:" in refused.text and reason in refused.text
    assert f'value="{html.escape(name)}"' in refused.text  # as typed
    assert f">{description}</textarea>" in refused.text
    assert 'aria-invalid="true"' in refused.text or status == 409
    assert dashboard_count(site.database_url) == before
    assert audit_rows(site.database_url, "dashboard", "create") == []


async def test_a_form_larger_than_any_good_one_is_a_413_page(site: Site) -> None:
    board_id = await site.new_dashboard("Sized")
    board = await dashboard(site, board_id)
    csrf = await site.sign_in("write")
    huge = {"name": "x" * 70_000, "description": ""}
    for path, data in (
        ("/ui/dashboards", huge),
        (f"/ui/dashboards/{board_id}/edit", {**huge, "version": str(board["version"])}),
    ):
        refused = await site.post(path, data, csrf)
        assert refused.status_code == 413, refused.text
        assert "larger than 65536 bytes" in refused.text
    # The longest good fields, each character four bytes of UTF-8, fit.
    widest = {"name": "😀" * 200, "description": "😀" * 2000}
    made = await site.post("/ui/dashboards", widest, csrf)
    assert made.status_code == 303, made.text
    assert dashboard_count(site.database_url) == 3
    assert await dashboard(site, board_id) == board


# Editing and the default.


async def test_a_dashboard_renamed_and_described_writes_the_apis_audit_row(site: Site) -> None:
    board_id = await site.new_dashboard("Old name")
    board = await dashboard(site, board_id)
    csrf = await site.sign_in("write")
    shown = await site.http.get(f"/ui/dashboards/{board_id}")
    assert f'href="/ui/dashboards/{board_id}/edit"' in shown.text
    form = await site.http.get(f"/ui/dashboards/{board_id}/edit")
    assert form.status_code == 200
    assert 'value="Old name"' in form.text
    assert f'name="version" value="{board["version"]}"' in form.text
    data = {"version": str(board["version"]), "name": "New name", "description": "Now described"}
    saved = await site.post(f"/ui/dashboards/{board_id}/edit", data, csrf)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/ui/dashboards/{board_id}?saved=dashboard"
    now = await dashboard(site, board_id)
    assert (now["name"], now["description"], now["version"]) == (
        "New name",
        "Now described",
        board["version"] + 1,
    )
    [by_page] = audit_rows(site.database_url, "dashboard", "update")
    assert by_page["before"]["name"] == "Old name" and by_page["after"]["name"] == "New name"
    response = await site.http.put(
        f"/api/v1/dashboards/{board_id}", json={"name": "By the API"}, headers=site.api()
    )
    assert response.status_code == 200, response.text
    _, by_api = audit_rows(site.database_url, "dashboard", "update")
    same_shape(by_page, by_api)


async def test_a_rename_to_a_name_in_use_is_the_form_again_and_changes_nothing(
    site: Site,
) -> None:
    board_id = await site.new_dashboard("Mine")
    board = await dashboard(site, board_id)
    csrf = await site.sign_in("write")
    data = {"version": str(board["version"]), "name": "overview", "description": "typed"}
    refused = await site.post(f"/ui/dashboards/{board_id}/edit", data, csrf)
    assert refused.status_code == 409
    assert "is taken by dashboard 1" in refused.text
    assert 'value="overview"' in refused.text and ">typed</textarea>" in refused.text
    data["name"] = LONG_NAME
    refused = await site.post(f"/ui/dashboards/{board_id}/edit", data, csrf)
    assert refused.status_code == 400
    assert "at most 200 characters" in refused.text
    assert await dashboard(site, board_id) == board
    assert audit_rows(site.database_url, "dashboard", "update") == []


async def test_set_as_default_moves_the_default_with_the_apis_audit_row(site: Site) -> None:
    old_default = await site.default_dashboard()
    board_id = await site.new_dashboard("Next default")
    board = await dashboard(site, board_id)
    csrf = await site.sign_in("write")
    shown = await site.http.get(f"/ui/dashboards/{board_id}")
    assert f'action="/ui/dashboards/{board_id}/default"' in shown.text
    made = await site.post(
        f"/ui/dashboards/{board_id}/default", {"version": str(board["version"])}, csrf
    )
    assert made.status_code == 303, made.text
    assert made.headers["location"] == f"/ui/dashboards/{board_id}?saved=default"
    now = await dashboard(site, board_id)
    assert now["is_default"] and (now["name"], now["description"]) == ("Next default", "")
    assert not (await dashboard(site, old_default["id"]))["is_default"]
    [row] = audit_rows(site.database_url, "dashboard", "update")
    assert row["after"]["is_default"] and row["after"]["default_moved_from"] == old_default["id"]
    # The default offers neither "Set as default" nor "Delete".
    shown = await site.http.get(f"/ui/dashboards/{board_id}?saved=default")
    assert "This is now the default dashboard." in shown.text
    assert "/default" not in shown.text and f"/ui/dashboards/{board_id}/delete" not in shown.text


# Deleting.


async def test_a_dashboard_deleted_after_confirming_writes_the_apis_audit_row(
    site: Site,
) -> None:
    board_id = await site.new_dashboard("Doomed")
    await site.add_widget(board_id, title="Inside", kind="stat", query={"kind": "overview"})
    board = await dashboard(site, board_id)
    csrf = await site.sign_in("write")
    shown = await site.http.get(f"/ui/dashboards/{board_id}")
    assert f'href="/ui/dashboards/{board_id}/delete"' in shown.text
    confirm = await site.http.get(f"/ui/dashboards/{board_id}/delete")
    assert confirm.status_code == 200
    assert "Delete “Doomed”?" in confirm.text and "Delete the dashboard" in confirm.text
    assert f'name="version" value="{board["version"]}"' in confirm.text
    assert await dashboard(site, board_id) == board  # asking deletes nothing
    deleted = await site.post(
        f"/ui/dashboards/{board_id}/delete", {"version": str(board["version"])}, csrf
    )
    assert deleted.status_code == 303, deleted.text
    assert deleted.headers["location"] == "/ui/dashboards?saved=deleted"
    listed = await site.http.get(deleted.headers["location"])
    assert "The dashboard is deleted." in listed.text and "Doomed" not in listed.text
    gone = await site.http.get(f"/api/v1/dashboards/{board_id}", headers=site.api())
    assert gone.status_code == 404
    [row] = audit_rows(site.database_url, "dashboard", "delete")
    assert row["before"]["name"] == "Doomed"
    assert [w["title"] for w in row["before"]["widgets"]] == ["Inside"]


async def test_the_default_dashboard_cannot_be_deleted(site: Site) -> None:
    board = await site.default_dashboard()
    csrf = await site.sign_in("write")
    confirm = await site.http.get(f"/ui/dashboards/{board['id']}/delete")
    assert confirm.status_code == 200
    assert "make another dashboard the default before deleting it" in confirm.text
    assert "Delete the dashboard" not in confirm.text
    refused = await site.post(
        f"/ui/dashboards/{board['id']}/delete", {"version": str(board["version"])}, csrf
    )
    assert refused.status_code == 409
    assert "is the default" in refused.text
    assert await site.default_dashboard() == board
    assert audit_rows(site.database_url, "dashboard", "delete") == []


async def test_a_widget_deleted_after_confirming_writes_the_apis_audit_row(site: Site) -> None:
    board_id = await site.new_dashboard("Widgets")
    kept = await site.add_widget(board_id, title="Kept", kind="stat", query={"kind": "overview"})
    doomed = await site.add_widget(
        board_id, title="Doomed", kind="stat", query={"kind": "overview"}, x=6, y=0
    )
    csrf = await site.sign_in("write")
    path = f"/ui/dashboards/{board_id}/widgets/{doomed['id']}/delete"
    shown = await site.http.get(f"/ui/dashboards/{board_id}")
    assert f'href="{path}"' in shown.text
    confirm = await site.http.get(path)
    assert confirm.status_code == 200
    assert "Delete “Doomed” from Widgets?" in confirm.text
    assert f'name="version" value="{doomed["version"]}"' in confirm.text
    deleted = await site.post(path, {"version": str(doomed["version"])}, csrf)
    assert deleted.status_code == 303, deleted.text
    assert deleted.headers["location"] == f"/ui/dashboards/{board_id}?saved=widget-deleted"
    assert "The widget is deleted." in (await site.http.get(deleted.headers["location"])).text
    assert [w["id"] for w in (await dashboard(site, board_id))["widgets"]] == [kept["id"]]
    [by_page] = audit_rows(site.database_url, "widget", "delete")
    assert by_page["before"]["title"] == "Doomed"
    response = await site.http.delete(f"/api/v1/dashboard/widgets/{kept['id']}", headers=site.api())
    assert response.status_code == 204
    _, by_api = audit_rows(site.database_url, "widget", "delete")
    same_shape(by_page, by_api)


# Versions.


async def test_a_change_over_a_newer_version_is_the_412_page_and_changes_nothing(
    site: Site,
) -> None:
    board_id = await site.new_dashboard("Contested")
    widget = await site.add_widget(board_id, title="W", kind="stat", query={"kind": "overview"})
    read_at = await dashboard(site, board_id)
    csrf = await site.sign_in("write")
    # Someone else renames the dashboard and edits the widget meanwhile.
    renamed = await site.http.put(
        f"/api/v1/dashboards/{board_id}", json={"name": "Renamed"}, headers=site.api()
    )
    assert renamed.status_code == 200, renamed.text
    theirs = {name: widget[name] for name in ("kind", "query", "x", "y", "w", "h")}
    edited = await site.http.put(
        f"/api/v1/dashboard/widgets/{widget['id']}",
        json={**theirs, "title": "Theirs"},
        headers=site.api(),
    )
    assert edited.status_code == 200, edited.text
    newer = await dashboard(site, board_id)
    stale_board = {"version": str(read_at["version"])}
    for path, data, back in (
        (
            f"/ui/dashboards/{board_id}/edit",
            {**stale_board, "name": "Mine", "description": ""},
            f"/ui/dashboards/{board_id}/edit",
        ),
        (f"/ui/dashboards/{board_id}/default", stale_board, f"/ui/dashboards/{board_id}"),
        (f"/ui/dashboards/{board_id}/delete", stale_board, f"/ui/dashboards/{board_id}"),
        (
            f"/ui/dashboards/{board_id}/widgets/{widget['id']}/delete",
            {"version": str(widget["version"])},
            f"/ui/dashboards/{board_id}/widgets/{widget['id']}/delete",
        ),
    ):
        stale = await site.post(path, data, csrf)
        assert stale.status_code == 412, (path, stale.text)
        assert "Someone else changed it" in stale.text
        assert f'href="{back}"' in stale.text
    assert await dashboard(site, board_id) == newer
    assert audit_rows(site.database_url, "dashboard", "delete") == []
    assert audit_rows(site.database_url, "widget", "delete") == []


@pytest.mark.parametrize("version", ["", "abc", "-1", "9" * 40])
async def test_a_missing_or_garbled_version_is_refused(site: Site, version: str) -> None:
    board_id = await site.new_dashboard("Versioned")
    board = await dashboard(site, board_id)
    csrf = await site.sign_in("write")
    for path in (f"/ui/dashboards/{board_id}/delete", f"/ui/dashboards/{board_id}/default"):
        refused = await site.post(path, {"version": version}, csrf)
        assert refused.status_code == 400, refused.text
        assert "the form&#39;s version is missing" in refused.text
    assert await dashboard(site, board_id) == board


# Ids, roles, sessions, CSRF.


@pytest.mark.parametrize("bad_id", ["999999", str(2**63), str(2**70)])
async def test_an_unknown_dashboard_or_widget_is_a_404_page(site: Site, bad_id: str) -> None:
    board = await site.default_dashboard()
    other = await site.new_dashboard("Other")
    foreign = await site.add_widget(other, title="F", kind="stat", query={"kind": "overview"})
    csrf = await site.sign_in("write")
    for path in (
        f"/ui/dashboards/{bad_id}/edit",
        f"/ui/dashboards/{bad_id}/delete",
        f"/ui/dashboards/{board['id']}/widgets/{bad_id}/delete",
        # A widget of another dashboard is not found on this one.
        f"/ui/dashboards/{board['id']}/widgets/{foreign['id']}/delete",
    ):
        assert (await site.http.get(path)).status_code == 404, path
    for path in (
        f"/ui/dashboards/{bad_id}/edit",
        f"/ui/dashboards/{bad_id}/default",
        f"/ui/dashboards/{bad_id}/delete",
        f"/ui/dashboards/{bad_id}/widgets/preview",
        f"/ui/dashboards/{board['id']}/widgets/{bad_id}/delete",
        f"/ui/dashboards/{board['id']}/widgets/{foreign['id']}/delete",
        f"/ui/dashboards/{board['id']}/widgets/{foreign['id']}/preview",
    ):
        data = {"version": "1", "name": "x", "title": "x", "kind": "stat", "query": "kind=overview"}
        refused = await site.post(path, {**data, "w": "4", "h": "2", "x": "0", "y": "0"}, csrf)
        assert refused.status_code == 404, (path, refused.text)
        assert "Not found" in refused.text
    assert len((await site.api_get(f"/api/v1/dashboards/{other}"))["widgets"]) == 1


async def management_posts(site: Site) -> list[tuple[str, dict[str, str]]]:
    """Every management form's post, each with what would be a good form."""
    board_id = await site.new_dashboard("Target")
    board = await dashboard(site, board_id)
    widget = await site.add_widget(board_id, title="W", kind="stat", query={"kind": "overview"})
    version = {"version": str(board["version"])}
    widget_form = {"title": "T", "kind": "stat", "query": "kind=overview", "w": "4", "h": "2"}
    return [
        ("/ui/dashboards", {"name": "Sneaky", "description": ""}),
        (f"/ui/dashboards/{board_id}/edit", {**version, "name": "Sneaky", "description": ""}),
        (f"/ui/dashboards/{board_id}/default", version),
        (f"/ui/dashboards/{board_id}/delete", version),
        (
            f"/ui/dashboards/{board_id}/widgets/{widget['id']}/delete",
            {"version": str(widget["version"])},
        ),
        (f"/ui/dashboards/{board_id}/widgets/preview", widget_form),
        (
            f"/ui/dashboards/{board_id}/widgets/{widget['id']}/preview",
            {**widget_form, "x": "0", "y": "0"},
        ),
    ]


async def everything(site: Site) -> Any:
    listed = await site.api_get("/api/v1/dashboards")
    return [await dashboard(site, board["id"]) for board in listed["dashboards"]]


async def test_a_read_key_sees_no_control_and_its_posts_are_403(site: Site) -> None:
    posts = await management_posts(site)
    board_id = int(posts[1][0].split("/")[3])
    before = await everything(site)
    csrf = await site.sign_in("read")
    listed = await site.http.get("/ui/dashboards")
    shown = await site.http.get(f"/ui/dashboards/{board_id}")
    for text in (listed.text, shown.text):
        for control in ("New dashboard", "/edit", "Set as default", "/delete", "Delete"):
            assert control not in text
    for path in (
        "/ui/dashboards/new",
        f"/ui/dashboards/{board_id}/edit",
        f"/ui/dashboards/{board_id}/delete",
    ):
        assert (await site.http.get(path)).status_code == 403, path
    for path, data in posts:
        refused = await site.post(path, data, csrf)
        assert refused.status_code == 403, (path, refused.text)
        assert "Not for this key" in refused.text
    assert await everything(site) == before
    assert audit_rows(site.database_url, "dashboard", "create")[-1]["after"]["name"] == "Target"


async def test_without_a_session_each_form_leads_to_sign_in(site: Site) -> None:
    posts = await management_posts(site)
    before = await everything(site)
    for path, data in posts:
        sent = await site.post(path, data, None)
        assert sent.status_code == 303, path
        assert sent.headers["location"].startswith("/ui/sign-in?next=")
    # htmx (the live preview) is told to load the sign-in page whole.
    preview, data = posts[-2]
    sent = await site.http.post(preview, data=data, headers={"Origin": SITE, "HX-Request": "true"})
    assert sent.status_code == 200 and sent.headers["hx-redirect"].startswith("/ui/sign-in")
    for path in ("/ui/dashboards/new", f"{posts[1][0]}", f"{posts[3][0]}"):
        page = await site.http.get(path)
        assert page.status_code == 303 and page.headers["location"].startswith("/ui/sign-in")
    assert await everything(site) == before


@pytest.mark.parametrize(
    ("csrf", "origin"), [(None, SITE), ("wrong", SITE), ("session", FOREIGN), ("session", None)]
)
async def test_a_form_without_the_token_or_from_elsewhere_is_refused(
    site: Site, csrf: str | None, origin: str | None
) -> None:
    posts = await management_posts(site)
    before = await everything(site)
    token = await site.sign_in("write")
    for path, data in posts:
        refused = await site.post(path, data, token if csrf == "session" else csrf, origin)
        assert refused.status_code == 403, (path, refused.text)
    assert await everything(site) == before


# The live preview.


async def test_the_live_preview_answers_only_its_region_and_stores_nothing(site: Site) -> None:
    board = await site.default_dashboard()
    widget = board["widgets"][1]  # the ingest rate stat
    csrf = await site.sign_in("write")
    form = await site.http.get(f"/ui/dashboards/{board['id']}/widgets/new")
    path = f"/ui/dashboards/{board['id']}/widgets/preview"
    assert f'hx-post="{path}"' in form.text and 'hx-sync="replace"' in form.text
    assert 'id="widget-preview"' in form.text
    good = {"title": "Live <one>", "kind": "timeseries", "query": "kind=events&range=1h"}
    good |= {"options": "{}", "w": "6", "h": "4"}
    headers = {"Origin": SITE, "HX-Request": "true", "X-CSRF-Token": csrf}
    drawn = await site.http.post(path, data=good, headers=headers)
    assert drawn.status_code == 200, drawn.text
    assert "<html" not in drawn.text and "<title>" not in drawn.text and "<form" not in drawn.text
    assert 'id="widget-title-0">Live &lt;one&gt;</h3>' in drawn.text
    assert 'data-chart="chart-0"' in drawn.text
    untitled = await site.http.post(path, data={**good, "title": ""}, headers=headers)
    assert 'id="widget-title-0">Unnamed widget</h3>' in untitled.text
    # Mid-typing mistakes: the reasons, in the region, still a 200 for htmx to show.
    for change, reason in (
        ({"query": "kind=events&range=banana"}, "<code>query.range</code>"),
        ({"options": "{"}, "<code>options</code>: is not JSON"),
        ({"title": "   "}, "<code>title</code>"),
        ({"w": "13"}, "<code>w</code>"),
    ):
        refused = await site.http.post(path, data={**good, **change}, headers=headers)
        assert refused.status_code == 200, refused.text
        assert "Cannot be drawn yet" in refused.text and reason in refused.text
        assert "nothing was changed" not in refused.text
    # Editing a stored widget: previewed as its save would be checked (x and y required).
    edit = f"/ui/dashboards/{board['id']}/widgets/{widget['id']}/preview"
    stat = {"title": "Now", "kind": "stat", "query": "kind=overview", "w": "4", "h": "2"}
    assert "<code>x</code>" in (await site.http.post(edit, data=stat, headers=headers)).text
    drawn = await site.http.post(edit, data={**stat, "x": "0", "y": "0"}, headers=headers)
    assert 'class="stat-value"' in drawn.text
    assert await site.default_dashboard() == board
    assert audit_rows(site.database_url, "widget", "create") == []
    assert audit_rows(site.database_url, "widget", "update") == []


async def test_the_new_pages_are_whole_or_a_fragment_without_inline_script(site: Site) -> None:
    """The forms and confirmations are whole pages, or only the main part for htmx."""
    board_id = await site.new_dashboard("Pages")
    await site.sign_in("write")
    for path in (
        "/ui/dashboards/new",
        f"/ui/dashboards/{board_id}/edit",
        f"/ui/dashboards/{board_id}/delete",
    ):
        whole = await site.http.get(path, headers={"Accept": BROWSER_ACCEPT})
        part = await site.http.get(path, headers={"HX-Request": "true"})
        assert whole.status_code == part.status_code == 200
        assert "<html" in whole.text and "<html" not in part.text
        for page in (whole.text, part.text):
            assert "<script>" not in page and " style=" not in page
