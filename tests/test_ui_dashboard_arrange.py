"""The layout route as the Move and resize page's script posts it (`Accept:
application/json`): a save answers 200 with the new version (and the same audit row as
the form), where a browser's form still gets its 303; and every refusal is the form's
refusal, with its status, changing nothing: stale version, overlap, off the grid,
garbled or oversized fields, an unknown dashboard, a read key, no session, no CSRF
token, another origin.

The page itself: its grid is hidden until the script shows it, and it names its
script and stylesheet by their versioned names, with no inline script or style.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from conftest import StartService
from ui_site import BROWSER_ACCEPT, FOREIGN, SITE, UiSite, own_site

SCRIPT_ACCEPT = "application/json"


class Site(UiSite):
    csrf_page = "/ui/dashboards"

    async def board(self) -> dict[str, Any]:
        """A dashboard of its own: Left at columns 0-3, Right at 6-9, two rows high."""
        made = await self.http.post(
            "/api/v1/dashboards", json={"name": "Arranged"}, headers=self.api()
        )
        assert made.status_code == 201, made.text
        board_id = made.json()["id"]
        for title, x in (("Left", 0), ("Right", 6)):
            added = await self.http.post(
                "/api/v1/dashboard/widgets",
                json={
                    "dashboard_id": board_id,
                    "title": title,
                    "kind": "stat",
                    "query": {"kind": "overview"},
                    "x": x,
                    "y": 0,
                    "w": 4,
                    "h": 2,
                },
                headers=self.api(),
            )
            assert added.status_code == 201, added.text
        return await self.stored(board_id)

    async def stored(self, board_id: int) -> dict[str, Any]:
        found = await self.http.get(f"/api/v1/dashboards/{board_id}", headers=self.api())
        assert found.status_code == 200, found.text
        board: dict[str, Any] = found.json()
        return board

    async def save(
        self,
        board: dict[str, Any],
        fields: dict[str, Any],
        csrf: str | None,
        *,
        accept: str = SCRIPT_ACCEPT,
        origin: str | None = SITE,
        board_id: int | str | None = None,
    ) -> httpx.Response:
        headers = {"Accept": accept}
        if origin is not None:
            headers["Origin"] = origin
        body = dict(fields) if csrf is None else {"csrf_token": csrf, **fields}
        where = board["id"] if board_id is None else board_id
        return await self.http.post(f"/ui/dashboards/{where}/layout", data=body, headers=headers)


def form_of(board: dict[str, Any], **moved: tuple[int, int, int, int]) -> dict[str, Any]:
    """The arrange form's fields: every widget's place, those named in `moved` changed."""
    places = {
        w["title"]: moved.get(w["title"], (w["x"], w["y"], w["w"], w["h"]))
        for w in board["widgets"]
    }
    ids = {w["title"]: str(w["id"]) for w in board["widgets"]}
    return {
        "version": str(board["version"]),
        "id": [ids[title] for title in places],
        **{name: [str(p[n]) for p in places.values()] for n, name in enumerate("xywh")},
    }


def layout_rows(database_url: str, board_id: int) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM audit_log WHERE resource = 'dashboard'"
            " AND action = 'layout' AND resource_id = %s",
            (str(board_id),),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    async with own_site(start_service, tmp_path, "arrange", Site) as running:
        yield running


async def test_the_scripts_save_answers_the_new_version_and_the_forms_still_a_303(
    site: Site,
) -> None:
    board = await site.board()
    csrf = await site.sign_in("write")
    saved = await site.save(board, form_of(board, Right=(8, 1, 4, 3)), csrf)
    assert saved.status_code == 200, saved.text
    assert saved.headers["content-type"].startswith("application/json")
    assert saved.headers["cache-control"] == "no-store"
    assert saved.json() == {"version": board["version"] + 1}
    after = await site.stored(board["id"])
    assert after["version"] == board["version"] + 1
    assert [(w["x"], w["y"], w["w"], w["h"]) for w in after["widgets"]] == [
        (0, 0, 4, 2),
        (8, 1, 4, 3),
    ]
    assert layout_rows(site.database_url, board["id"]) == 1
    # The next save with that version is taken; a browser's form still gets its 303.
    again = await site.save(after, form_of(after, Left=(0, 0, 5, 2)), csrf, accept=BROWSER_ACCEPT)
    assert again.status_code == 303
    assert again.headers["location"].endswith(f"/ui/dashboards/{board['id']}?saved=layout")
    for accept in ("*/*", "text/html, application/json"):
        latest = await site.stored(board["id"])
        plain = await site.save(latest, form_of(latest, Left=(0, 1, 5, 2)), csrf, accept=accept)
        assert plain.status_code == 303, accept
    assert layout_rows(site.database_url, board["id"]) == 3


async def test_a_stale_save_is_412_and_changes_nothing(site: Site) -> None:
    board = await site.board()
    csrf = await site.sign_in("write")
    first = await site.save(board, form_of(board, Right=(6, 3, 4, 2)), csrf)
    assert first.status_code == 200
    before = await site.stored(board["id"])
    # A second save read at the first version: someone else's save came in between.
    stale = await site.save(board, form_of(board, Left=(0, 5, 4, 2)), csrf)
    assert stale.status_code == 412
    assert "Someone else changed it" in stale.text
    assert await site.stored(board["id"]) == before
    assert layout_rows(site.database_url, board["id"]) == 1


@pytest.mark.parametrize(
    ("moved", "status", "reason"),
    [
        ({"Right": (2, 0, 4, 2)}, 409, "may not share a cell"),
        ({"Right": (9, 0, 4, 2)}, 400, "x + w is 13"),
        ({"Right": (6, 0, 13, 2)}, 400, "widgets.1.w"),
        ({"Right": (6, 9999, 4, 2)}, 400, "widgets.1.y"),
        ({"Right": (6, -1, 4, 2)}, 400, "widgets.1.y"),
    ],
)
async def test_a_place_over_another_or_off_the_grid_is_refused_and_changes_nothing(
    site: Site, moved: dict[str, tuple[int, int, int, int]], status: int, reason: str
) -> None:
    board = await site.board()
    csrf = await site.sign_in("write")
    refused = await site.save(board, form_of(board, **moved), csrf)
    assert refused.status_code == status, refused.text
    assert reason in refused.text
    assert "nothing was changed" in refused.text
    assert await site.stored(board["id"]) == board


@pytest.mark.parametrize(
    "garble",
    [
        {"x": ["one", "6"]},
        {"x": ["0"]},  # one x for two widgets
        {"h": ["2", "99999999999999999999999"]},
        {"id": ["999999", "999998"]},
        {"id": ["x", "y"]},
        {"version": ""},
        {"version": "1" * 40},
        {"version": "-1"},
        {"x": ["0", "6\x00"]},
        {"id": [str(n) for n in range(3000)]},
    ],
)
async def test_garbled_fields_are_refused_and_change_nothing(
    site: Site, garble: dict[str, Any]
) -> None:
    board = await site.board()
    csrf = await site.sign_in("write")
    refused = await site.save(board, {**form_of(board), **garble}, csrf)
    assert refused.status_code in (400, 409), refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert await site.stored(board["id"]) == board


async def test_an_oversized_form_is_refused_and_changes_nothing(site: Site) -> None:
    board = await site.board()
    csrf = await site.sign_in("write")
    # Past the service's request size limit (10 MiB by default).
    fields = {**form_of(board), "x": ["0", "6" * 11 * 1024 * 1024]}
    refused = await site.save(board, fields, csrf)
    assert refused.status_code == 413, refused.status_code
    assert await site.stored(board["id"]) == board


@pytest.mark.parametrize("board_id", ["999999", "99999999999999999999", "-1", "x"])
async def test_an_unknown_dashboard_is_refused(site: Site, board_id: str) -> None:
    board = await site.board()
    csrf = await site.sign_in("write")
    refused = await site.save(board, form_of(board), csrf, board_id=board_id)
    assert refused.status_code == 404
    assert await site.stored(board["id"]) == board


async def test_a_read_key_no_session_no_token_or_another_origin_change_nothing(
    site: Site,
) -> None:
    board = await site.board()
    fields = form_of(board, Right=(6, 4, 4, 2))
    # No session: sent to sign in, not answered with a version.
    anonymous = await site.save(board, fields, None)
    assert anonymous.status_code == 303
    assert "/ui/sign-in" in anonymous.headers["location"]
    read_token = await site.sign_in("read")
    assert (await site.save(board, fields, read_token)).status_code == 403
    token = await site.sign_in("write")
    for csrf, origin in ((None, SITE), ("wrong", SITE), (token, FOREIGN), (token, None)):
        refused = await site.save(board, fields, csrf, origin=origin)
        assert refused.status_code == 403, (csrf, origin)
    assert await site.stored(board["id"]) == board


async def test_the_page_hides_its_grid_until_the_script_shows_it(site: Site) -> None:
    board = await site.board()
    await site.sign_in("write")
    page = (await site.http.get(f"/ui/dashboards/{board['id']}/arrange")).text
    section = re.search(r'<section class="arrange-board"[^>]*>', page)
    assert section is not None and " hidden " in section[0]
    assert re.search(r'data-page-script="/static/dashboard_arrange\.[0-9a-f]{10}\.js"', page)
    assert re.search(r'href="/static/dashboard_arrange\.[0-9a-f]{10}\.css"', page)
    assert page.count('class="arrange-box"') == 2 and page.count('id="place-') == 2
    assert "<script>" not in page and " style=" not in page and "<style" not in page
    for asset in ("dashboard_arrange.js", "dashboard_arrange.css"):
        served = await site.http.get(f"/static/{asset}")
        assert served.status_code == 200
