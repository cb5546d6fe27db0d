"""The Move and resize page's grid in a real browser: a widget dragged to a new place
and another resized by its corner are saved one after the other (each save with the
version the last one answered) and are there after a reload; a widget dropped on
another is refused and nothing is saved; of two people arranging one dashboard the
second is told of the conflict and offered the layout reloaded; a finger drags as a
mouse does; without JavaScript the page is the form alone; axe, light and dark.

The service runs on a database of its own, so its dashboards are these tests' only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, Route

from browser_harness import Console, api, axe_violations, create_key, own_ui_service, sign_in
from conftest import ThreadedService


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with own_ui_service(tmp_path_factory.mktemp("arrange")) as running:
        yield running


@pytest.fixture(scope="module")
def writer(site: ThreadedService) -> str:
    return create_key(site, "arranger", "write")


def new_board(site: ThreadedService, name: str) -> tuple[int, dict[str, int]]:
    """A dashboard with Left at columns 0-3 and Middle at 4-7, both two rows high."""
    board = api(site, "POST", "/api/v1/dashboards", json={"name": name})["id"]
    ids = {}
    for title, x in (("Left", 0), ("Middle", 4)):
        ids[title] = api(
            site,
            "POST",
            "/api/v1/dashboard/widgets",
            json={
                "dashboard_id": board,
                "title": title,
                "kind": "stat",
                "query": {"kind": "overview"},
                "x": x,
                "y": 0,
                "w": 4,
                "h": 2,
            },
        )["id"]
    return board, ids


def stored(site: ThreadedService, board: int) -> dict[str, Any]:
    found: dict[str, Any] = api(site, "GET", f"/api/v1/dashboards/{board}")
    return found


def places(site: ThreadedService, board: int) -> dict[str, tuple[int, int, int, int]]:
    return {w["title"]: (w["x"], w["y"], w["w"], w["h"]) for w in stored(site, board)["widgets"]}


def open_arrange(page: Page, site: ThreadedService, board: int) -> None:
    page.goto(f"{site.base_url}/ui/dashboards/{board}/arrange")
    page.get_by_role("heading", level=2, name="On the grid").wait_for()


def box(page: Page, title: str) -> Locator:
    return page.locator(".arrange-box").filter(has_text=title)


def pitch(page: Page) -> tuple[float, float]:
    """A column and a row of the grid with the gap after it, in CSS pixels."""
    found: list[float] = page.evaluate(
        """() => {
            const grid = document.querySelector('.arrange-grid');
            const style = getComputedStyle(grid);
            const gap = parseFloat(style.columnGap);
            return [(grid.getBoundingClientRect().width + gap) / 12,
                    parseFloat(style.gridAutoRows) + parseFloat(style.rowGap)];
        }"""
    )
    return found[0], found[1]


def centre(target: Locator) -> tuple[float, float]:
    found = target.bounding_box()
    assert found is not None
    return found["x"] + found["width"] / 2, found["y"] + found["height"] / 2


def press(page: Page, target: Locator, columns: int, rows: int) -> None:
    """The mouse down on `target` and moved by `columns` and `rows` cells, not let go."""
    across, down = pitch(page)
    x, y = centre(target)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + columns * across, y + rows * down, steps=8)


def drag(page: Page, target: Locator, columns: int, rows: int) -> None:
    press(page, target, columns, rows)
    page.mouse.up()


def saved(page: Page, text: str) -> None:
    page.get_by_role("status").filter(has_text=text).wait_for()


def test_a_widget_dragged_and_another_resized_are_saved_and_survive_a_reload(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    board, ids = new_board(site, "Draggable")
    version = stored(site, board)["version"]
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, site.base_url, writer)
    open_arrange(page, site, board)

    drag(page, box(page, "Middle"), 4, 1)
    saved(page, "Saved: Middle moved to column 8, row 1.")
    assert page.get_by_label("Middle: column (x)").input_value() == "8"
    assert page.get_by_label("Middle: row (y)").input_value() == "1"
    # The second save carries the version the first one was answered with.
    drag(page, box(page, "Left").locator(".arrange-handle-se"), 1, 1)
    saved(page, "Saved: Left resized to 5 columns wide, 3 rows high.")
    assert places(site, board) == {"Left": (0, 0, 5, 3), "Middle": (8, 1, 4, 2)}
    assert stored(site, board)["version"] == version + 2

    page.reload()
    page.get_by_role("heading", level=2, name="On the grid").wait_for()
    assert page.get_by_label("Left: width (w)").input_value() == "5"
    left, middle = box(page, "Left").bounding_box(), box(page, "Middle").bounding_box()
    assert left is not None and middle is not None
    across, down = pitch(page)
    assert abs(middle["x"] - left["x"] - 8 * across) < 2
    assert abs(middle["y"] - left["y"] - down) < 2
    assert abs(left["height"] - middle["height"] - down) < 2  # a row and a gap higher
    # The dashboard's own stylesheet places them there too.
    css = page.request.get(f"{site.base_url}/ui/dashboards/{board}/grid.css").text()
    assert f"#widget-{ids['Middle']}{{grid-column:9/span 4;grid-row:2/span 2}}" in css
    assert f"#widget-{ids['Left']}{{grid-column:1/span 5;grid-row:1/span 3}}" in css
    assert console.errors == []


def test_arrow_keys_on_a_box_move_and_resize_it(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    board, _ = new_board(site, "Keyed")
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, site.base_url, writer)
    open_arrange(page, site, board)
    page.get_by_role("button", name="Middle stat column 4, row 0").focus()
    page.keyboard.press("ArrowRight")
    saved(page, "Saved: Middle moved to column 5, row 0.")
    page.keyboard.press("Shift+ArrowDown")
    saved(page, "Saved: Middle resized to 4 columns wide, 3 rows high.")
    page.keyboard.press("ArrowLeft")
    saved(page, "Saved: Middle moved to column 4, row 0.")
    page.keyboard.press("ArrowLeft")  # onto Left: refused, nothing posted
    saved(page, "Middle was not moved: the place is over Left.")
    page.keyboard.press("ArrowUp")  # above the first row: off the grid
    saved(page, "Middle was not moved: the place is off the grid.")
    assert places(site, board) == {"Left": (0, 0, 4, 2), "Middle": (4, 0, 4, 3)}
    assert page.evaluate("document.activeElement.textContent").strip().startswith("Middle")
    assert console.errors == []


def test_a_drop_during_a_save_is_saved_after_it_with_its_version(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    board, _ = new_board(site, "Hurried")
    version = stored(site, board)["version"]
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, site.base_url, writer)
    open_arrange(page, site, board)
    held: list[Route] = []

    def hold(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)  # the first save waits until let through

    page.route("**/layout", hold)
    drag(page, box(page, "Middle"), 0, 2)
    page.wait_for_function("document.querySelector('.arrange-status').textContent === 'Saving…'")
    assert len(held) == 1
    drag(page, box(page, "Left"), 0, 3)  # dropped while the first save is under way
    held[0].continue_()
    saved(page, "Saved: Left moved to column 0, row 3.")
    assert places(site, board) == {"Left": (0, 3, 4, 2), "Middle": (4, 2, 4, 2)}
    assert stored(site, board)["version"] == version + 2
    assert console.errors == []


def test_a_save_after_the_session_ended_says_so_and_offers_to_sign_in(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    board, _ = new_board(site, "Expired")
    before = stored(site, board)
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, site.base_url, writer)
    open_arrange(page, site, board)
    page.context.clear_cookies()
    drag(page, box(page, "Middle"), 0, 2)
    page.get_by_role("alert").filter(has_text="Your session has ended").wait_for()
    assert stored(site, board) == before
    page.get_by_role("link", name="Reload the layout").click()
    page.get_by_label("API key").wait_for()  # the sign-in page, which leads back here
    assert console.errors == []


def test_a_widget_dropped_on_another_is_refused_and_nothing_is_saved(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    board, _ = new_board(site, "Crowded")
    before = stored(site, board)
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, site.base_url, writer)
    open_arrange(page, site, board)

    press(page, box(page, "Middle"), -2, 0)
    outline = page.locator(".arrange-outline")
    assert "arrange-refused" in (outline.get_attribute("class") or "")
    assert outline.inner_text() == "Refused: over Left"
    page.mouse.up()
    saved(page, "Middle was not moved: the place is over Left.")
    assert outline.is_hidden()
    assert page.get_by_label("Middle: column (x)").input_value() == "4"
    # Off the grid: the right edge is the twelfth column.
    drag(page, box(page, "Middle").locator(".arrange-handle-e"), 5, 0)
    saved(page, "Middle was not resized: the place is off the grid.")
    assert page.get_by_label("Middle: width (w)").input_value() == "4"
    assert stored(site, board) == before
    assert console.errors == []


def test_the_second_of_two_arrangers_is_told_of_the_conflict(
    browser: Browser, site: ThreadedService, writer: str
) -> None:
    board, _ = new_board(site, "Contested layout")
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.set_default_timeout(15_000)
            sign_in(page, site.base_url, writer)
            open_arrange(page, site, board)
        first, second = pages
        drag(first, box(first, "Middle"), 0, 2)
        saved(first, "Saved: Middle moved to column 4, row 2.")
        drag(second, box(second, "Left"), 0, 3)
        alert = second.get_by_role("alert")
        alert.filter(has_text="Someone else changed").wait_for()
        assert "your last change was not saved" in alert.inner_text()
        assert places(site, board) == {"Left": (0, 0, 4, 2), "Middle": (4, 2, 4, 2)}
        # Nothing more is dragged on a stale page; the link reads the layout again.
        drag(second, box(second, "Middle"), 4, 0)
        assert second.get_by_label("Middle: column (x)").input_value() == "4"
        second.get_by_role("link", name="Reload the layout").click()
        second.get_by_role("heading", level=2, name="On the grid").wait_for()
        assert second.get_by_label("Middle: row (y)").input_value() == "2"
        assert second.get_by_label("Left: row (y)").input_value() == "0"
        assert second.locator(".arrange-alert").inner_text() == ""
    finally:
        for context in contexts:
            context.close()


def test_a_finger_drags_a_widget_as_a_mouse_does(
    browser: Browser, site: ThreadedService, writer: str
) -> None:
    board, _ = new_board(site, "Touched")
    context = browser.new_context(viewport={"width": 1000, "height": 900}, has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, writer)
        open_arrange(page, site, board)
        across, down = pitch(page)
        touch = context.new_cdp_session(page)

        def swipe(x: float, y: float) -> None:
            send = touch.send
            send(
                "Input.dispatchTouchEvent",
                {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]},
            )
            for step in range(1, 9):
                point = {"x": x + step * 2 * across / 8, "y": y + step * down / 8}
                send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
            send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

        # On the box's body a finger scrolls the page: the box stays.
        swipe(*centre(box(page, "Middle").locator(".arrange-kind")))
        assert page.get_by_label("Middle: column (x)").input_value() == "4"
        # By its title it drags.
        swipe(*centre(box(page, "Middle").locator(".arrange-title")))
        saved(page, "Saved: Middle moved to column 6, row 1.")
        assert places(site, board)["Middle"] == (6, 1, 4, 2)
    finally:
        context.close()


def test_without_javascript_the_page_is_the_form_alone(
    browser: Browser, site: ThreadedService, writer: str
) -> None:
    board, _ = new_board(site, "Scriptless")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, writer)
        page.goto(f"{site.base_url}/ui/dashboards/{board}/arrange")
        page.get_by_role("heading", level=1, name="Move and resize: Scriptless").wait_for()
        assert page.locator(".arrange-board").is_hidden()
        page.get_by_label("Middle: row (y)").fill("5")
        page.get_by_role("button", name="Save the layout").click()
        page.wait_for_url(f"**/ui/dashboards/{board}?saved=layout")
        assert places(site, board)["Middle"] == (4, 5, 4, 2)
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_grid(
    page: Page, site: ThreadedService, writer: str, console: Console, scheme: str
) -> None:
    board, _ = new_board(site, f"Checked {scheme}")
    page.emulate_media(color_scheme=scheme)
    sign_in(page, site.base_url, writer)
    open_arrange(page, site, board)
    assert axe_violations(page) == []
    press(page, box(page, "Middle"), -1, 0)  # the refused outline shown
    assert axe_violations(page) == []
    page.mouse.up()
    assert console.errors == []
