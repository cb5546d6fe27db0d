"""Dashboards and widgets through HTTP: CRUD, versions and If-Match, layout, export/import,
the default dashboard, roles, the audit log, and hostile input of every kind."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest
import trio

from conftest import MakeKey, StartService, make_settings
from monitor.domain.widget_queries import WidgetKind, widget_target
from monitor.storage.migrate import apply_migrations

DASHBOARDS = "/api/v1/dashboards"
WIDGETS = "/api/v1/dashboard/widgets"
PLACE = ("x", "y", "w", "h")
EDITABLE = ("title", "kind", "query", "options", *PLACE)


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": token, **headers}


def unique(prefix: str = "board") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def audit_rows(database_url: str, resource: str, resource_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "select row_to_json(a)::text from audit_log a "
            "where resource = %s and resource_id = %s order by id",
            (resource, str(resource_id)),
        ).fetchall()
    return [json.loads(text) for (text,) in found]


def editable(widget: dict[str, Any]) -> dict[str, Any]:
    return {key: widget[key] for key in EDITABLE}


@pytest.fixture
async def writer(make_key: MakeKey) -> str:
    return (await make_key("write"))[1]


async def new_dashboard(client: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(DASHBOARDS, headers=auth(token), json={"name": unique(), **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def new_widget(
    client: httpx.AsyncClient, token: str, dashboard_id: int, **fields: Any
) -> dict[str, Any]:
    body = {"dashboard_id": dashboard_id, "title": "errors", "kind": "events", **fields}
    response = await client.post(WIDGETS, headers=auth(token), json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def read(client: httpx.AsyncClient, token: str, path: str) -> httpx.Response:
    response = await client.get(path, headers=auth(token))
    assert response.status_code == 200, response.text
    return response


# A fresh install, and the default dashboard.


@pytest.fixture
async def fresh_client(
    start_service: StartService, empty_database_url: str, tmp_path: Path, make_key: MakeKey
) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """A service on a database of its own, just migrated: (client, write key, database URL)."""
    from monitor.domain.audit import Actor, Attribution
    from monitor.domain.keys import Role
    from monitor.storage import keys as key_store
    from monitor.storage.gateway import open_gateway

    apply_migrations(empty_database_url)
    async with open_gateway(
        empty_database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="fresh writer",
            role=Role.WRITE,
            rate_limit=None,
            expires_at=None,
            by=Attribution(Actor.system("tests")),
        )
    service = await start_service(make_settings(empty_database_url, tmp_path))
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        yield client, token, empty_database_url


async def test_a_fresh_install_has_one_default_dashboard_with_sensible_widgets(
    fresh_client: tuple[httpx.AsyncClient, str, str],
) -> None:
    client, token, _ = fresh_client
    (board,) = (await read(client, token, DASHBOARDS)).json()["dashboards"]
    assert (board["name"], board["is_default"], board["widget_count"]) == ("Overview", True, 4)
    document = (await read(client, token, f"{DASHBOARDS}/{board['id']}")).json()
    shown = {w["title"]: (w["kind"], w["query"]) for w in document["widgets"]}
    assert shown == {
        "Event rate by level": (
            "timeseries",
            {"kind": "events", "group_by": "level", "range": "24h"},
        ),
        "Ingest rate": ("stat", {"kind": "overview", "range": "24h"}),
        "Error rate": (
            "timeseries",
            {"kind": "events", "level": ["error", "critical"], "range": "24h"},
        ),
        "Top errors": ("top", {"type": "errors", "range": "24h"}),
    }
    # Each is a widget the API itself accepts: saving it unchanged is a 200 that changes nothing.
    for widget in document["widgets"]:
        saved = await client.put(
            f"{WIDGETS}/{widget['id']}", headers=auth(token), json=editable(widget)
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["version"] == 1


def test_the_default_dashboard_is_made_once(empty_database_url: str) -> None:
    assert apply_migrations(empty_database_url)
    assert apply_migrations(empty_database_url) == []
    with psycopg.connect(empty_database_url) as connection:
        assert connection.execute("select count(*) from dashboards").fetchone() == (1,)
        assert connection.execute("select count(*) from widgets").fetchone() == (4,)
        # Made by the migration, not by a request: no audit row.
        assert connection.execute(
            "select count(*) from audit_log where resource in ('dashboard', 'widget')"
        ).fetchone() == (0,)


async def test_a_change_whose_audit_row_fails_is_not_made(
    fresh_client: tuple[httpx.AsyncClient, str, str],
) -> None:
    client, token, database_url = fresh_client
    (board,) = (await read(client, token, DASHBOARDS)).json()["dashboards"]
    before = (await read(client, token, f"{DASHBOARDS}/{board['id']}")).json()
    widget = before["widgets"][0]
    spare = await new_dashboard(client, token)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            """
            create function refuse_audit_row() returns trigger language plpgsql as $$
            begin raise exception 'the audit log refuses this row'; end $$;
            create trigger refuse_audit_row before insert on audit_log
                for each row execute function refuse_audit_row();
            """
        )
    for method, path, body in (
        ("POST", DASHBOARDS, {"name": "never stored"}),
        ("PUT", f"{DASHBOARDS}/{board['id']}", {"name": "never renamed"}),
        (
            "PUT",
            f"{DASHBOARDS}/{board['id']}/layout",
            {"widgets": [{"id": widget["id"], "x": 0, "y": 20}]},
        ),
        ("POST", f"{DASHBOARDS}/import", export_of()),
        ("POST", WIDGETS, {"title": "never stored", "kind": "events"}),
        ("PUT", f"{WIDGETS}/{widget['id']}", {**editable(widget), "title": "never renamed"}),
        ("DELETE", f"{WIDGETS}/{widget['id']}", None),
        ("DELETE", f"{DASHBOARDS}/{spare['id']}", None),
    ):
        response = await client.request(method, path, headers=auth(token), json=body)
        assert response.status_code == 500, (method, path, response.text)
    assert (await read(client, token, f"{DASHBOARDS}/{board['id']}")).json() == before
    listed = (await read(client, token, DASHBOARDS)).json()["dashboards"]
    assert [d["id"] for d in listed] == [board["id"], spare["id"]]


async def test_the_default_moves_but_never_disappears(
    fresh_client: tuple[httpx.AsyncClient, str, str],
) -> None:
    client, token, database_url = fresh_client
    (first,) = (await read(client, token, DASHBOARDS)).json()["dashboards"]
    path = f"{DASHBOARDS}/{first['id']}"
    for refused in (
        await client.delete(path, headers=auth(token)),
        await client.put(path, headers=auth(token), json={"name": "Overview", "is_default": False}),
    ):
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"] == "urn:monitor:problem:default-required"

    second = await new_dashboard(client, token, is_default=True)
    assert second["is_default"] is True
    listed = (await read(client, token, DASHBOARDS)).json()["dashboards"]
    assert [(d["id"], d["is_default"]) for d in listed] == [
        (second["id"], True),
        (first["id"], False),
    ]
    old = (await read(client, token, path)).json()
    assert old["version"] == 2  # no longer the default: a change to it
    (row,) = audit_rows(database_url, "dashboard", second["id"])
    assert row["after"]["default_moved_from"] == first["id"]
    # The old default may go now; making it the default again moves it back.
    moved_back = await client.put(
        path, headers=auth(token), json={"name": "Overview", "is_default": True}
    )
    assert moved_back.json()["is_default"] is True
    assert (
        await client.delete(f"{DASHBOARDS}/{second['id']}", headers=auth(token))
    ).status_code == 204


# CRUD.


async def test_dashboard_create_read_update_delete(
    client: httpx.AsyncClient, writer: str, database_url: str
) -> None:
    name = unique()
    created = await client.post(
        DASHBOARDS, headers=auth(writer), json={"name": name, "description": "for the on-call"}
    )
    assert created.status_code == 201
    board = created.json()
    path = f"{DASHBOARDS}/{board['id']}"
    assert created.headers["location"] == path
    assert created.headers["etag"] == '"1"'
    assert (board["name"], board["description"], board["is_default"]) == (
        name,
        "for the on-call",
        False,
    )
    assert (board["version"], board["widget_count"]) == (1, 0)

    shown = await read(client, writer, path)
    assert shown.json()["widgets"] == []
    assert shown.headers["etag"] == '"1"'
    assert board["id"] in [
        d["id"] for d in (await read(client, writer, DASHBOARDS)).json()["dashboards"]
    ]

    renamed = await client.put(path, headers=auth(writer), json={"name": f"{name} (old)"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["version"]) == (f"{name} (old)", 2)
    assert renamed.headers["etag"] == '"2"'
    # The same fields again change nothing: same version, no audit row.
    again = await client.put(path, headers=auth(writer), json={"name": f"{name} (old)"})
    assert again.json()["version"] == 2

    assert (await client.delete(path, headers=auth(writer))).status_code == 204
    gone = await client.get(path, headers=auth(writer))
    assert gone.status_code == 404
    assert gone.json()["detail"] == f"no dashboard with id {board['id']}"
    rows = audit_rows(database_url, "dashboard", board["id"])
    assert [row["action"] for row in rows] == ["create", "update", "delete"]
    assert (rows[1]["before"]["name"], rows[1]["after"]["name"]) == (name, f"{name} (old)")
    assert rows[2]["before"]["widgets"] == []


async def test_widget_create_read_update_delete(
    client: httpx.AsyncClient, writer: str, database_url: str
) -> None:
    board = await new_dashboard(client, writer)
    created = await client.post(
        WIDGETS,
        headers=auth(writer),
        json={
            "dashboard_id": board["id"],
            "title": "Recent errors",
            "kind": "events",
            "query": {"level": ["error", "critical"], "limit": 20},
            "options": {"unit": "events", "thresholds": [{"value": 10, "colour": "#d64545"}]},
            "x": 0,
            "y": 0,
            "w": 12,
            "h": 6,
        },
    )
    assert created.status_code == 201, created.text
    widget = created.json()
    path = f"{WIDGETS}/{widget['id']}"
    assert created.headers["location"] == path
    assert created.headers["etag"] == '"1"'
    assert widget["options"]["thresholds"] == [{"value": 10, "colour": "#d64545"}]
    assert widget["query"] == {"level": ["error", "critical"], "limit": 20}

    assert (await read(client, writer, path)).json() == widget
    listed = await read(client, writer, f"{WIDGETS}?dashboard_id={board['id']}")
    assert listed.json() == {"widgets": [widget], "next_after": None}
    board_now = (await read(client, writer, f"{DASHBOARDS}/{board['id']}")).json()
    assert (board_now["version"], board_now["widget_count"]) == (2, 1)  # its widgets changed

    changed = {
        **editable(widget),
        "title": "Errors",
        "kind": "timeseries",
        "query": {"kind": "events"},
    }
    updated = await client.put(path, headers=auth(writer), json=changed)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["title"], updated.json()["version"]) == ("Errors", 2)
    assert updated.headers["etag"] == '"2"'

    assert (await client.delete(path, headers=auth(writer))).status_code == 204
    assert (await client.get(path, headers=auth(writer))).status_code == 404
    rows = audit_rows(database_url, "widget", widget["id"])
    assert [row["action"] for row in rows] == ["create", "update", "delete"]
    assert (rows[1]["before"]["title"], rows[1]["after"]["title"]) == ("Recent errors", "Errors")
    assert rows[2]["before"]["kind"] == "timeseries" and rows[2]["after"] is None


async def test_a_widget_given_no_place_goes_below_the_others_on_the_default_dashboard(
    client: httpx.AsyncClient, writer: str
) -> None:
    default = (await read(client, writer, DASHBOARDS)).json()["dashboards"][0]
    assert default["is_default"]
    widgets = (await read(client, writer, f"{DASHBOARDS}/{default['id']}")).json()["widgets"]
    bottom = max((w["y"] + w["h"] for w in widgets), default=0)
    created = await client.post(
        WIDGETS, headers=auth(writer), json={"title": "new", "kind": "events"}
    )
    assert created.status_code == 201, created.text
    assert {k: created.json()[k] for k in ("dashboard_id", *PLACE)} == {
        "dashboard_id": default["id"],
        "x": 0,
        "y": bottom,
        "w": 6,
        "h": 4,
    }
    assert (
        await client.delete(f"{WIDGETS}/{created.json()['id']}", headers=auth(writer))
    ).status_code == 204
    # Its size, when given, is kept (docs/dashboard-api.md: "w 6 and h 4 unless given").
    sized = await client.post(
        WIDGETS, headers=auth(writer), json={"title": "new", "kind": "events", "w": 12, "h": 2}
    )
    assert sized.status_code == 201, sized.text
    assert {k: sized.json()[k] for k in PLACE} == {"x": 0, "y": bottom, "w": 12, "h": 2}
    assert (
        await client.delete(f"{WIDGETS}/{sized.json()['id']}", headers=auth(writer))
    ).status_code == 204


async def test_widgets_are_listed_a_page_at_a_time(client: httpx.AsyncClient, writer: str) -> None:
    board = await new_dashboard(client, writer)
    ids = [(await new_widget(client, writer, board["id"]))["id"] for _ in range(5)]
    seen: list[int] = []
    after = None
    while True:
        query = f"dashboard_id={board['id']}&limit=2" + (f"&after={after}" if after else "")
        page = (await read(client, writer, f"{WIDGETS}?{query}")).json()
        assert len(page["widgets"]) <= 2
        seen.extend(w["id"] for w in page["widgets"])
        after = page["next_after"]
        if after is None:
            break
    assert seen == ids
    every = (await read(client, writer, f"{WIDGETS}?limit=1000")).json()["widgets"]
    assert set(ids) <= {w["id"] for w in every}


# Versions: ETag, If-Match, 412.


async def test_two_editors_at_once_lose_nothing_silently(
    client: httpx.AsyncClient, writer: str, make_key: MakeKey
) -> None:
    other = (await make_key("write"))[1]
    board = await new_dashboard(client, writer)
    widget = await new_widget(client, writer, board["id"], x=0, y=0)
    path = f"{WIDGETS}/{widget['id']}"
    tag_read_by_both = (await read(client, writer, path)).headers["etag"]

    first = await client.put(
        path,
        headers=auth(writer, **{"If-Match": tag_read_by_both}),
        json={**editable(widget), "title": "first editor"},
    )
    assert first.status_code == 200
    second = await client.put(
        path,
        headers=auth(other, **{"If-Match": tag_read_by_both}),
        json={**editable(widget), "title": "second editor"},
    )
    assert second.status_code == 412
    problem = second.json()
    assert problem["type"] == "urn:monitor:problem:stale-version"
    assert "version 2" in problem["detail"]
    assert problem["errors"] == [{"field": "If-Match", "message": "the current version is 2"}]
    assert second.headers["etag"] == '"2"'
    kept = (await read(client, writer, path)).json()
    assert (kept["title"], kept["version"]) == ("first editor", 2)
    # Read again, retried: now it applies.
    retried = await client.put(
        path,
        headers=auth(other, **{"If-Match": second.headers["etag"]}),
        json={**editable(widget), "title": "second editor"},
    )
    assert (retried.status_code, retried.json()["version"]) == (200, 3)


async def test_concurrent_edits_with_one_version_let_exactly_one_through(
    client: httpx.AsyncClient, writer: str
) -> None:
    board = await new_dashboard(client, writer)
    widget = await new_widget(client, writer, board["id"], x=0, y=0)
    statuses: list[int] = []

    async def edit(title: str) -> None:
        response = await client.put(
            f"{WIDGETS}/{widget['id']}",
            headers=auth(writer, **{"If-Match": '"1"'}),
            json={**editable(widget), "title": title},
        )
        statuses.append(response.status_code)

    async with trio.open_nursery() as nursery:
        for n in range(4):
            nursery.start_soon(edit, f"editor {n}")
    assert sorted(statuses) == [200, 412, 412, 412]
    assert (await read(client, writer, f"{WIDGETS}/{widget['id']}")).json()["version"] == 2


async def test_without_if_match_the_last_write_wins(client: httpx.AsyncClient, writer: str) -> None:
    board = await new_dashboard(client, writer)
    path = f"{DASHBOARDS}/{board['id']}"
    for name in ("one", "two"):
        response = await client.put(
            path, headers=auth(writer), json={"name": f"{board['name']} {name}"}
        )
        assert response.status_code == 200
    assert (await read(client, writer, path)).json()["name"] == f"{board['name']} two"


async def test_if_match_applies_to_dashboards_and_deletes(
    client: httpx.AsyncClient, writer: str
) -> None:
    board = await new_dashboard(client, writer)
    path = f"{DASHBOARDS}/{board['id']}"
    await new_widget(client, writer, board["id"], x=0, y=0)  # a widget change: version 2
    stale = {"If-Match": '"1"'}
    renamed = await client.put(path, headers=auth(writer, **stale), json={"name": unique()})
    assert renamed.status_code == 412
    assert renamed.headers["etag"] == '"2"'
    assert (await client.delete(path, headers=auth(writer, **stale))).status_code == 412
    assert (
        await client.delete(path, headers=auth(writer, **{"If-Match": 'W/"2"'}))
    ).status_code == 412
    assert (await read(client, writer, path)).json()["name"] == board["name"]
    assert (
        await client.delete(path, headers=auth(writer, **{"If-Match": '"7", "2"'}))
    ).status_code == 204

    other = await new_dashboard(client, writer)
    anything = {"If-Match": "*"}
    other_path = f"{DASHBOARDS}/{other['id']}"
    assert (
        await client.put(other_path, headers=auth(writer, **anything), json={"name": unique()})
    ).status_code == 200
    assert (await client.delete(other_path, headers=auth(writer, **anything))).status_code == 204
    assert (await client.delete(other_path, headers=auth(writer, **anything))).status_code == 404


@pytest.mark.parametrize("header", ["3", '"3', "abc", '"1" "2"', '*, "1"', "W/", '"a\x7f"'])
async def test_a_malformed_if_match_is_a_400_and_changes_nothing(
    client: httpx.AsyncClient, writer: str, header: str
) -> None:
    board = await new_dashboard(client, writer)
    widget = await new_widget(client, writer, board["id"], x=0, y=0)
    for method, path, body in (
        ("PUT", f"{WIDGETS}/{widget['id']}", {**editable(widget), "title": "changed"}),
        ("DELETE", f"{WIDGETS}/{widget['id']}", None),
        ("PUT", f"{DASHBOARDS}/{board['id']}", {"name": unique()}),
        ("PUT", f"{DASHBOARDS}/{board['id']}/layout", {"widgets": []}),
        ("DELETE", f"{DASHBOARDS}/{board['id']}", None),
    ):
        response = await client.request(
            method, path, headers=auth(writer, **{"If-Match": header}), json=body
        )
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["errors"][0]["field"] == "If-Match"
    assert (await read(client, writer, f"{WIDGETS}/{widget['id']}")).json()["version"] == 1
    assert (await read(client, writer, f"{DASHBOARDS}/{board['id']}")).json()["version"] == 2


# Layout.


async def four_in_a_row(
    client: httpx.AsyncClient, token: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    board = await new_dashboard(client, token)
    widgets = [
        await new_widget(client, token, board["id"], x=3 * n, y=0, w=3, h=2) for n in range(4)
    ]
    return board, widgets


async def test_a_layout_moves_many_widgets_in_one_request(
    client: httpx.AsyncClient, writer: str, database_url: str
) -> None:
    board, widgets = await four_in_a_row(client, writer)
    version = (await read(client, writer, f"{DASHBOARDS}/{board['id']}")).json()["version"]
    # Reverse the row: moved one at a time, each would land on another.
    layout = [{"id": w["id"], "x": 9 - 3 * n, "y": 0} for n, w in enumerate(widgets[:3])]
    layout.append({"id": widgets[3]["id"], "x": 0, "y": 2, "w": 12, "h": 3})
    response = await client.put(
        f"{DASHBOARDS}/{board['id']}/layout",
        headers=auth(writer, **{"If-Match": f'"{version}"'}),
        json={"widgets": layout},
    )
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["version"] == version + 1
    assert response.headers["etag"] == f'"{version + 1}"'
    placed = {w["id"]: ({k: w[k] for k in PLACE}, w["version"]) for w in after["widgets"]}
    assert placed == {
        widgets[0]["id"]: ({"x": 9, "y": 0, "w": 3, "h": 2}, 2),
        widgets[1]["id"]: ({"x": 6, "y": 0, "w": 3, "h": 2}, 2),
        widgets[2]["id"]: ({"x": 3, "y": 0, "w": 3, "h": 2}, 2),
        widgets[3]["id"]: ({"x": 0, "y": 2, "w": 12, "h": 3}, 2),
    }
    (row,) = [
        r for r in audit_rows(database_url, "dashboard", board["id"]) if r["action"] == "layout"
    ]
    assert row["before"]["widgets"][0] == {"id": widgets[0]["id"], "x": 0, "y": 0, "w": 3, "h": 2}
    assert row["after"]["widgets"][0] == {"id": widgets[0]["id"], "x": 9, "y": 0, "w": 3, "h": 2}
    # The same layout again changes nothing.
    again = await client.put(
        f"{DASHBOARDS}/{board['id']}/layout", headers=auth(writer), json={"widgets": layout}
    )
    assert again.json()["version"] == version + 1


@pytest.mark.parametrize(
    ("moves", "status", "fields"),
    [
        # The last move overlaps the first: nothing moves.
        (lambda ids: [{"id": ids[0], "x": 0, "y": 5}, {"id": ids[1], "x": 0, "y": 5}], 409, None),
        (
            lambda ids: [{"id": ids[0], "x": 0, "y": 5}, {"id": 2**62, "x": 0, "y": 9}],
            400,
            {"widgets.1.id"},
        ),
        (
            lambda ids: [{"id": ids[0], "x": 0, "y": 5}, {"id": ids[0], "x": 6, "y": 5}],
            400,
            {"widgets.1.id"},
        ),
        (
            lambda ids: [{"id": ids[0], "x": 10, "y": 5}],
            400,
            {"widgets.0.x"},
        ),  # w 3 kept: 13 columns
        (lambda ids: [{"id": ids[0], "x": 0, "y": 9999}], 400, {"widgets.0.y"}),
        (lambda ids: [{"id": ids[0], "x": -1, "y": 0}], 400, {"widgets.0.x"}),
        (lambda ids: [{"id": ids[0], "x": 0, "y": 0, "w": 0}], 400, {"widgets.0.w"}),
        (lambda ids: [{"id": ids[0], "x": "0", "y": 0}], 400, {"widgets.0.x"}),
        (lambda ids: [{"id": ids[0], "x": 0, "y": 0, "z": 1}], 400, {"widgets.0.z"}),
        (lambda ids: [{"id": -5, "x": 0, "y": 0}], 400, {"widgets.0.id"}),
        (lambda ids: [{"id": 2**64, "x": 0, "y": 0}], 400, {"widgets.0.id"}),
        (lambda ids: [{"x": 0, "y": 0}], 400, {"widgets.0.id"}),
        (lambda ids: [{"id": ids[0], "x": 0, "y": 5}] * 101, 400, {"widgets"}),
    ],
)
async def test_a_layout_is_all_or_nothing(
    client: httpx.AsyncClient, writer: str, moves: Any, status: int, fields: set[str] | None
) -> None:
    board, widgets = await four_in_a_row(client, writer)
    before = (await read(client, writer, f"{DASHBOARDS}/{board['id']}")).json()
    response = await client.put(
        f"{DASHBOARDS}/{board['id']}/layout",
        headers=auth(writer),
        json={"widgets": moves([w["id"] for w in widgets])},
    )
    assert response.status_code == status, response.text
    if fields is not None:
        assert {error["field"] for error in response.json()["errors"]} == fields
    else:
        assert response.json()["type"] == "urn:monitor:problem:widget-overlap"
    assert (await read(client, writer, f"{DASHBOARDS}/{board['id']}")).json() == before


async def test_a_layout_of_another_dashboards_widget_names_it(
    client: httpx.AsyncClient, writer: str
) -> None:
    board, _ = await four_in_a_row(client, writer)
    elsewhere = await new_widget(
        client, writer, (await new_dashboard(client, writer))["id"], x=0, y=0
    )
    response = await client.put(
        f"{DASHBOARDS}/{board['id']}/layout",
        headers=auth(writer),
        json={"widgets": [{"id": elsewhere["id"], "x": 0, "y": 8}]},
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "widgets.0.id",
            "message": f"no widget {elsewhere['id']} on dashboard {board['id']}",
        }
    ]


async def test_a_stale_layout_is_a_412(client: httpx.AsyncClient, writer: str) -> None:
    board, widgets = await four_in_a_row(client, writer)
    version = (await read(client, writer, f"{DASHBOARDS}/{board['id']}")).json()["version"]
    # Someone else edits a widget of it meanwhile: the layout read before is stale.
    moved = {**editable(widgets[3]), "y": 4}
    assert (
        await client.put(f"{WIDGETS}/{widgets[3]['id']}", headers=auth(writer), json=moved)
    ).status_code == 200
    response = await client.put(
        f"{DASHBOARDS}/{board['id']}/layout",
        headers=auth(writer, **{"If-Match": f'"{version}"'}),
        json={"widgets": [{"id": widgets[0]["id"], "x": 0, "y": 10}]},
    )
    assert response.status_code == 412
    assert response.headers["etag"] == f'"{version + 1}"'


# Placement on create and update.


async def test_widgets_may_not_overlap(client: httpx.AsyncClient, writer: str) -> None:
    board = await new_dashboard(client, writer)
    first = await new_widget(client, writer, board["id"], x=0, y=0, w=6, h=4)
    response = await client.post(
        WIDGETS,
        headers=auth(writer),
        json={"dashboard_id": board["id"], "title": "on top", "kind": "events", "x": 5, "y": 3},
    )
    assert response.status_code == 409
    assert response.json()["type"] == "urn:monitor:problem:widget-overlap"
    assert f"widget {first['id']} and widget new" in response.json()["detail"]
    # Moving another widget onto it is refused the same way, from another dashboard too.
    other = await new_dashboard(client, writer)
    stranger = await new_widget(client, writer, other["id"], x=0, y=0)
    moved = {**editable(stranger), "dashboard_id": board["id"], "x": 2}
    refused = await client.put(f"{WIDGETS}/{stranger['id']}", headers=auth(writer), json=moved)
    assert refused.status_code == 409
    assert (await read(client, writer, f"{WIDGETS}/{stranger['id']}")).json() == stranger
    # Beside it, it moves, and both dashboards count the change.
    moved["x"] = 6
    assert (
        await client.put(f"{WIDGETS}/{stranger['id']}", headers=auth(writer), json=moved)
    ).json()["dashboard_id"] == board["id"]
    assert (await read(client, writer, f"{DASHBOARDS}/{other['id']}")).json()["widget_count"] == 0


# Export and import.


async def test_export_then_import_gives_the_same_dashboard(
    client: httpx.AsyncClient, writer: str, database_url: str
) -> None:
    board = await new_dashboard(client, writer, description="exported")
    for fields in (
        {"kind": "events", "query": {"level": "error"}, "x": 0, "y": 0, "w": 12, "h": 3},
        {
            "kind": "timeseries",
            "title": "cpu",
            "query": {
                "kind": "metric",
                "name": "cpu_seconds",
                "aggregation": "rate",
                "range": "6h",
            },
            "options": {"unit": "s", "thresholds": [{"value": 0.9, "colour": "red"}]},
            "x": 0,
            "y": 3,
        },
        {"kind": "top", "query": {"type": "sources"}, "x": 6, "y": 3},
        {"kind": "gauge", "query": {"kind": "overview"}, "options": {"max": 100}, "x": 0, "y": 7},
    ):
        await new_widget(client, writer, board["id"], **fields)
    exported = (await read(client, writer, f"{DASHBOARDS}/{board['id']}/export")).json()
    assert exported["format"] == "monitor.dashboard" and exported["format_version"] == 1
    assert "id" not in exported["dashboard"] and all("id" not in w for w in exported["widgets"])

    copy_name = unique("copy")
    document = {**exported, "dashboard": {**exported["dashboard"], "name": copy_name}}
    imported = await client.post(f"{DASHBOARDS}/import", headers=auth(writer), json=document)
    assert imported.status_code == 201, imported.text
    copy = imported.json()
    assert imported.headers["location"] == f"{DASHBOARDS}/{copy['id']}"
    assert (copy["is_default"], copy["widget_count"], copy["version"]) == (False, 4, 1)
    again = (await read(client, writer, f"{DASHBOARDS}/{copy['id']}/export")).json()
    assert again == document
    (row,) = audit_rows(database_url, "dashboard", copy["id"])
    assert row["action"] == "import" and len(row["after"]["widgets"]) == 4

    taken = await client.post(f"{DASHBOARDS}/import", headers=auth(writer), json=exported)
    assert taken.status_code == 409
    assert taken.json()["type"] == "urn:monitor:problem:name-taken"


def export_of(*widgets: dict[str, Any], **dashboard: Any) -> dict[str, Any]:
    return {
        "format": "monitor.dashboard",
        "format_version": 1,
        "dashboard": {"name": unique("import"), **dashboard},
        "widgets": [{"title": "w", "kind": "events", **w} for w in widgets],
    }


@pytest.mark.parametrize(
    ("document", "status", "fields"),
    [
        ([], 400, {"(body)"}),
        ("a dashboard", 400, {"(body)"}),
        ({}, 400, {"format", "format_version", "dashboard", "widgets"}),
        ({**export_of(), "format": "grafana"}, 400, {"format"}),
        ({**export_of(), "format_version": 2}, 400, {"format_version"}),
        ({**export_of(), "id": 1}, 400, {"id"}),
        ({**export_of(), "widgets": {"a": 1}}, 400, {"widgets"}),
        (export_of(name=""), 400, {"dashboard.name"}),
        (export_of(*[{"x": 0, "y": n} for n in range(101)]), 400, {"widgets"}),
        (export_of({"kind": "pie"}), 400, {"widgets.0.kind"}),
        (export_of({}, {"query": {"level": "loud"}}), 400, {"widgets.1.query.level"}),
        (export_of({"options": {"a": float("nan")}}), 400, {"widgets.0.options.a"}),
        (export_of({"x": 8, "y": 0, "w": 6}), 400, {"widgets.0.x"}),
        (export_of({"x": 0}), 400, {"widgets.0.y"}),
        (export_of({"x": 0, "y": 0}, {"x": 3, "y": 2}), 409, None),
    ],
)
async def test_importing_garbage_creates_nothing(
    client: httpx.AsyncClient, writer: str, document: Any, status: int, fields: set[str] | None
) -> None:
    before = len((await read(client, writer, DASHBOARDS)).json()["dashboards"])
    response = await client.post(
        f"{DASHBOARDS}/import",
        headers=auth(writer, **{"Content-Type": "application/json"}),
        content=json.dumps(document, allow_nan=True),
    )
    assert response.status_code == status, response.text
    if fields is not None:
        assert {error["field"] for error in response.json()["errors"]} == fields
    assert len((await read(client, writer, DASHBOARDS)).json()["dashboards"]) == before


async def test_a_dashboard_holds_at_most_100_widgets(
    client: httpx.AsyncClient, writer: str
) -> None:
    full = export_of(*[{"x": 6 * (n % 2), "y": 4 * (n // 2)} for n in range(100)])
    imported = await client.post(f"{DASHBOARDS}/import", headers=auth(writer), json=full)
    assert imported.status_code == 201, imported.text
    one_more = await client.post(
        WIDGETS,
        headers=auth(writer),
        json={"dashboard_id": imported.json()["id"], "title": "101st", "kind": "events"},
    )
    assert one_more.status_code == 409
    assert one_more.json()["type"] == "urn:monitor:problem:limit"


# Roles.


async def test_a_read_key_views_dashboards_but_cannot_change_them(
    client: httpx.AsyncClient, writer: str, make_key: MakeKey
) -> None:
    _, reader = await make_key("read")
    board = await new_dashboard(client, writer)
    widget = await new_widget(client, writer, board["id"], x=0, y=0)
    for path in (
        DASHBOARDS,
        f"{DASHBOARDS}/{board['id']}",
        f"{DASHBOARDS}/{board['id']}/export",
        WIDGETS,
        f"{WIDGETS}/{widget['id']}",
    ):
        assert (await client.get(path, headers=auth(reader))).status_code == 200, path
    for method, path, body in (
        ("POST", DASHBOARDS, {"name": unique()}),
        ("PUT", f"{DASHBOARDS}/{board['id']}", {"name": unique()}),
        ("DELETE", f"{DASHBOARDS}/{board['id']}", None),
        ("PUT", f"{DASHBOARDS}/{board['id']}/layout", {"widgets": []}),
        ("POST", f"{DASHBOARDS}/import", export_of()),
        ("POST", WIDGETS, {"title": "t", "kind": "events"}),
        ("PUT", f"{WIDGETS}/{widget['id']}", editable(widget)),
        ("DELETE", f"{WIDGETS}/{widget['id']}", None),
    ):
        response = await client.request(method, path, headers=auth(reader), json=body)
        assert response.status_code == 403, (method, path)
        assert "needs the write role" in response.json()["detail"]
    assert (await read(client, writer, f"{DASHBOARDS}/{board['id']}")).json()["version"] == 2


# Hostile widgets.

GOOD = {"title": "ok", "kind": "events"}


def nested(levels: int) -> dict[str, Any]:
    """An object `levels` deep: {"a": {"a": ... 1}}."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    result: dict[str, Any] = value
    return result


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**GOOD, "x": 11, "y": 0, "w": 2}, {"x"}),
        ({**GOOD, "x": 0, "y": 0, "w": 0}, {"w"}),
        ({**GOOD, "x": 0, "y": 0, "w": 13}, {"w"}),
        ({**GOOD, "x": 0, "y": 0, "h": 0}, {"h"}),
        ({**GOOD, "x": 0, "y": 0, "h": 101}, {"h"}),
        ({**GOOD, "x": 0, "y": -1}, {"y"}),
        ({**GOOD, "x": 0, "y": 9999, "h": 2}, {"y"}),
        ({**GOOD, "x": 0, "y": 2**70}, {"y"}),
        ({**GOOD, "x": 0}, {"y"}),
        ({**GOOD, "x": "1", "y": 0}, {"x"}),
        ({**GOOD, "x": 1.0, "y": 0}, {"x"}),
        ({**GOOD, "x": True, "y": 0}, {"x"}),
        ({**GOOD, "kind": "pie"}, {"kind"}),
        ({**GOOD, "kind": None}, {"kind"}),
        ({**GOOD, "title": ""}, {"title"}),
        ({**GOOD, "title": "   "}, {"title"}),
        ({**GOOD, "title": "a\x00b"}, {"title"}),
        ({**GOOD, "title": "t" * 201}, {"title"}),
        ({**GOOD, "colour": "red"}, {"colour"}),
        ({"kind": "events"}, {"title"}),
        ({**GOOD, "dashboard_id": 0}, {"dashboard_id"}),
        ({**GOOD, "dashboard_id": -1}, {"dashboard_id"}),
        ({**GOOD, "dashboard_id": 2**63}, {"dashboard_id"}),
        ({**GOOD, "dashboard_id": "1"}, {"dashboard_id"}),
        ({**GOOD, "query": ["level", "error"]}, {"query"}),
        ({**GOOD, "query": "level=error"}, {"query"}),
        ({**GOOD, "options": [1, 2]}, {"options"}),
        ({**GOOD, "query": {"level": {"in": ["error"]}}}, {"query.level"}),
        ({**GOOD, "query": {"level": None}}, {"query.level"}),
        ({**GOOD, "query": {"level": "a\x00"}}, {"query.level"}),
        ({**GOOD, "query": {"q": "x" * 8200}}, {"query"}),
        ({**GOOD, "options": {"a": "x" * 17_000}}, {"options"}),
        ({**GOOD, "options": {"n": 2**60}}, {"options.n"}),
        ({**GOOD, "options": {"\x00": 1}}, {"options.\x00"}),
        ({**GOOD, "options": {"k" * 201: 1}}, {"options." + "k" * 50}),
        ({**GOOD, "options": nested(9)}, {"options" + ".a" * 8}),  # 8 levels at most
        ({**GOOD, "options": nested(300)}, {"(body)"}),  # refused by the JSON parser itself
    ],
)
async def test_a_bad_widget_is_a_400_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, writer: str, body: dict[str, Any], fields: set[str]
) -> None:
    board = await new_dashboard(client, writer)
    response = await client.post(
        WIDGETS, headers=auth(writer), json={"dashboard_id": board["id"], **body}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {error["field"] for error in response.json()["errors"]} == fields
    assert (await read(client, writer, f"{DASHBOARDS}/{board['id']}")).json()["widget_count"] == 0


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"title": "a", "kind": "events", "options": {"x": NaN}}', 400),
        (b'{"title": "a", "kind": "events", "options": {"x": 1e400}}', 400),
        (b'{"title": "a", "kind": "events", "options": {"x": -Infinity}}', 400),
        (b'{"title": "\\ud800", "kind": "events"}', 400),
        (b'{"title": "a", "kind": "events"', 400),
        (b"", 400),
        (b'{"title": "a", "kind": "events", "options": {"x": "' + b"y" * 70_000 + b'"}}', 413),
    ],
)
async def test_undecodable_or_oversized_widget_bodies(
    client: httpx.AsyncClient, writer: str, raw: bytes, status: int
) -> None:
    response = await client.post(
        WIDGETS, headers=auth(writer, **{"Content-Type": "application/json"}), content=raw
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_body_that_is_not_json_is_a_415(client: httpx.AsyncClient, writer: str) -> None:
    response = await client.post(
        WIDGETS, headers=auth(writer, **{"Content-Type": "text/plain"}), content=b"title=a"
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("kind", "query", "fields"),
    [
        ("events", {"level": "loud"}, {"query.level"}),
        ("events", {"bogus": "1"}, {"query.bogus"}),
        ("events", {"from": "yesterday"}, {"query.from"}),
        ("events", {"limit": 0}, {"query.limit"}),
        ("events", {"cursor": "not-a-cursor"}, {"query.cursor"}),
        ("events", {"level": ["error"] * 101}, {"query.level"}),
        ("events", {"q": "x" * 1001}, {"query.q"}),
        ("timeseries", {}, {"query.kind"}),
        ("timeseries", {"kind": "logs"}, {"query.kind"}),
        ("timeseries", {"kind": "events", "group_by": "colour"}, {"query.group_by"}),
        ("timeseries", {"kind": "events", "interval": "1 hour"}, {"query.interval"}),
        ("timeseries", {"kind": "events", "range": "forever"}, {"query.range"}),
        (
            "timeseries",
            {"kind": "events", "range": "1h", "from": "2026-01-01T00:00:00Z"},
            {"query.range"},
        ),
        ("timeseries", {"kind": "events", "max_points": 0}, {"query.max_points"}),
        ("timeseries", {"kind": "events", "limit": 5}, {"query.limit"}),
        ("timeseries", {"kind": "metric"}, {"query.name"}),
        ("timeseries", {"kind": "metric", "name": "1cpu"}, {"query.name"}),
        (
            "timeseries",
            {"kind": "metric", "name": "cpu", "aggregation": "p42"},
            {"query.aggregation"},
        ),
        (
            "timeseries",
            {"kind": "metric", "name": "cpu", "range": "7d", "interval": "1s"},
            {"query.interval"},
        ),
        (
            "timeseries",
            {"kind": "metric", "query": ["name=cpu", "name=mem&aggregation=median"]},
            {"query.query[1].aggregation"},
        ),
        ("stat", {"kind": "metric", "name": "cpu", "bogus": 1}, {"query.bogus"}),
        ("stat", {}, {"query.kind"}),
        ("gauge", {"kind": "overview", "range": "soon"}, {"query.range"}),
        ("top", {}, {"query.type"}),
        ("top", {"type": "everything"}, {"query.type"}),
        ("heatmap", {"kind": "pie"}, {"query.kind"}),
    ],
)
async def test_an_invalid_query_is_a_400_naming_what_is_wrong(
    client: httpx.AsyncClient, writer: str, kind: str, query: dict[str, Any], fields: set[str]
) -> None:
    await _refused(client, writer, kind, query, fields)


# Queries a widget could once be saved with although its route refuses them.
ROUTE_REFUSES = [
    (
        "timeseries",
        {"kind": "metric", "query": ["name=cpu&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"]},
        {"query.query[0].from", "query.query[0].to"},
    ),
    (
        "timeseries",
        {"kind": "metric", "query": ["name=cpu&interval=1m"]},
        {"query.query[0].interval"},
    ),
    ("timeseries", {"kind": "metric", "name": "cpu", "max_points": 5000}, {"query.max_points"}),
    ("timeseries", {"kind": "events", "max_points": 2001}, {"query.max_points"}),
    ("timeseries", {"kind": "events", "range": "1h", "interval": "2h"}, {"query.interval"}),
    ("stat", {"kind": "events", "range": "400d", "interval": "1s"}, {"query.interval"}),
    ("top", {"type": "metrics", "by": "size"}, {"query.by"}),
    ("top", {"type": "errors", "by": "value"}, {"query.by"}),
    ("top", {"type": "errors", "status": "closed", "limit": 101}, {"query.status", "query.limit"}),
    ("top", {"type": "slow-requests", "range": "soon"}, {"query.range"}),
    ("heatmap", {"kind": "events", "tz": "Mars/Olympus_Mons"}, {"query.tz"}),
    ("heatmap", {"kind": "events", "interval": "1h"}, {"query.interval"}),
    ("heatmap", {"kind": "metric", "name": "latency", "buckets": 101}, {"query.buckets"}),
    ("heatmap", {"kind": "metric"}, {"query.name"}),
    ("stat", {"kind": "overview", "level": "error"}, {"query.level"}),
    ("gauge", {"kind": "overview", "from": "2026-01-01T00:00:00Z"}, {"query.to"}),
]


@pytest.mark.parametrize(("kind", "query", "fields"), ROUTE_REFUSES)
async def test_a_query_its_route_refuses_is_a_400_naming_what_is_wrong(
    client: httpx.AsyncClient, writer: str, kind: str, query: dict[str, Any], fields: set[str]
) -> None:
    await _refused(client, writer, kind, query, fields)
    # ... and the route itself refuses it, naming the same parameters.
    target = widget_target(cast(WidgetKind, kind), query)
    answered = await client.get(target.path, params=list(target.params), headers=auth(writer))
    assert answered.status_code == 400, answered.text
    assert {f"query.{error['field']}" for error in answered.json()["errors"]} == fields


async def _refused(
    client: httpx.AsyncClient, writer: str, kind: str, query: dict[str, Any], fields: set[str]
) -> None:
    board = await new_dashboard(client, writer)
    response = await client.post(
        WIDGETS,
        headers=auth(writer),
        json={"dashboard_id": board["id"], "title": "t", "kind": kind, "query": query},
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("the widget's query is invalid")
    assert {error["field"] for error in response.json()["errors"]} == fields


@pytest.mark.parametrize(
    ("kind", "query"),
    [
        ("events", {"level": "error", "source": ["a", "b"], "attr.route": "/x", "limit": 10}),
        ("timeseries", {"kind": "events", "group_by": "source", "range": "7d", "max_points": 300}),
        ("timeseries", {"kind": "metric", "name": "cpu", "label.env": "prod", "group_by": "host"}),
        (
            "timeseries",
            {"kind": "metric", "query": ["name=cpu&aggregation=p99", "name=mem"], "range": "1h"},
        ),
        ("stat", {"kind": "events", "level": "critical", "range": "1h"}),
        ("gauge", {"kind": "metric", "name": "disk_used", "aggregation": "last"}),
        ("top", {"type": "slow-requests", "attr": "duration_ms", "key": "route"}),
        ("heatmap", {"kind": "events", "tz": "Europe/Paris"}),
        ("heatmap", {"kind": "metric", "name": "latency", "scale": "log", "buckets": 20}),
        ("stat", {"kind": "overview", "range": "24h"}),
        (
            "gauge",
            {"kind": "overview", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
        ),
        ("top", {"type": "errors", "status": ["open", "resolved"], "limit": 5, "range": "7d"}),
        ("top", {"type": "metrics", "by": "value", "name": "cpu"}),
        ("top", {"type": "sources"}),
    ],
)
async def test_valid_queries_of_every_kind_are_saved(
    client: httpx.AsyncClient, writer: str, kind: str, query: dict[str, Any]
) -> None:
    board = await new_dashboard(client, writer)
    created = await new_widget(client, writer, board["id"], kind=kind, query=query)
    assert created["query"] == query
    # The widget draws: its route answers the query it was saved with.
    target = widget_target(cast(WidgetKind, kind), query)
    answered = await client.get(target.path, params=list(target.params), headers=auth(writer))
    assert answered.status_code == 200, answered.text


@pytest.mark.parametrize(
    "path",
    [
        f"{WIDGETS}/0",
        f"{WIDGETS}/-1",
        f"{WIDGETS}/{2**63}",
        f"{WIDGETS}/99999999999999999999999999",
        f"{WIDGETS}/abc",
        f"{DASHBOARDS}/0",
        f"{DASHBOARDS}/{2**63 - 1}",
        f"{DASHBOARDS}/99999999999999999999999999",
        f"{DASHBOARDS}/99999999999999999999999999/export",
        f"{DASHBOARDS}/1.5",
    ],
)
async def test_ids_that_cannot_exist_are_404s(
    client: httpx.AsyncClient, writer: str, path: str
) -> None:
    assert (await client.get(path, headers=auth(writer))).status_code == 404
    if not path.endswith("/export"):
        assert (await client.delete(path, headers=auth(writer))).status_code == 404
        body = (
            {"name": unique()}
            if path.startswith(DASHBOARDS)
            else {**GOOD, "x": 0, "y": 0, "w": 1, "h": 1}
        )
        assert (await client.put(path, headers=auth(writer), json=body)).status_code == 404


async def test_a_widget_on_a_dashboard_that_does_not_exist_is_a_404(
    client: httpx.AsyncClient, writer: str
) -> None:
    response = await client.post(
        WIDGETS, headers=auth(writer), json={**GOOD, "dashboard_id": 2**62}
    )
    assert response.status_code == 404
    assert response.json()["detail"] == f"no dashboard with id {2**62}"
    listed = await client.get(f"{WIDGETS}?dashboard_id={2**62}", headers=auth(writer))
    assert listed.status_code == 404


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("limit=0", {"limit"}),
        ("limit=1001", {"limit"}),
        ("after=-1", {"after"}),
        ("dashboard_id=abc", {"dashboard_id"}),
        (f"dashboard_id={2**64}", {"dashboard_id"}),
        ("sort=id", {"sort"}),
    ],
)
async def test_a_bad_widget_listing_query_is_a_400(
    client: httpx.AsyncClient, writer: str, query: str, fields: set[str]
) -> None:
    response = await client.get(f"{WIDGETS}?{query}", headers=auth(writer))
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == fields


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        ({}, 400, {"name"}),
        ({"name": ""}, 400, {"name"}),
        ({"name": "\t"}, 400, {"name"}),
        ({"name": "n" * 201}, 400, {"name"}),
        ({"name": "ok", "description": "d" * 2001}, 400, {"description"}),
        ({"name": "ok", "description": "a\x00"}, 400, {"description"}),
        ({"name": "ok", "is_default": "yes"}, 400, {"is_default"}),
        ({"name": 5}, 400, {"name"}),
        ({"name": "ok", "widgets": []}, 400, {"widgets"}),
    ],
)
async def test_a_bad_dashboard_is_a_400_naming_the_field(
    client: httpx.AsyncClient, writer: str, body: dict[str, Any], status: int, fields: set[str]
) -> None:
    response = await client.post(DASHBOARDS, headers=auth(writer), json=body)
    assert response.status_code == status, response.text
    assert {error["field"] for error in response.json()["errors"]} == fields


async def test_dashboard_names_are_unique_whatever_their_case(
    client: httpx.AsyncClient, writer: str
) -> None:
    board = await new_dashboard(client, writer)
    for name in (board["name"], board["name"].upper()):
        response = await client.post(DASHBOARDS, headers=auth(writer), json={"name": name})
        assert response.status_code == 409
        assert response.json()["type"] == "urn:monitor:problem:name-taken"
    other = await new_dashboard(client, writer)
    renamed = await client.put(
        f"{DASHBOARDS}/{other['id']}", headers=auth(writer), json={"name": board["name"].title()}
    )
    assert renamed.status_code == 409
    # A dashboard may change the case of its own name.
    recased = await client.put(
        f"{DASHBOARDS}/{board['id']}", headers=auth(writer), json={"name": board["name"].upper()}
    )
    assert recased.status_code == 200
