"""The operator UI's page guard, and a placeholder for every page not built yet.

The overview has its own module (overview.py).

Each page is guarded by `session_page(role)`: without a live session the
browser is sent (303, or `HX-Redirect` to htmx) to the sign-in page with
`next` pointing back here;
otherwise `require_session_role` applies (the role, the key's rate limit),
and a refusal is shown as a page in the shell rather than a JSON problem.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec
from urllib.parse import urlencode

from quart import Blueprint, Response, request

from monitor.domain.keys import Role
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.sessions import current_session, require_session_role
from monitor.web.ui.navigation import PAGES, Page
from monitor.web.ui.rendering import render_page, wants_fragment
from monitor.web.ui.session_routes import SIGN_IN_PATH

blueprint = Blueprint("ui_pages", __name__)


PageHandler = Callable[[], Awaitable[Response]]
P = ParamSpec("P")


def sign_in_location() -> str:
    here = request.path
    if request.query_string:
        here += "?" + request.query_string.decode("latin-1")
    return SIGN_IN_PATH + ("" if here == "/" else "?" + urlencode({"next": here}))


def session_page(
    required: Role,
) -> Callable[[Callable[P, Awaitable[Response]]], Callable[P, Awaitable[Response]]]:
    def decorate(handler: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
        guarded = require_session_role(required)(handler)

        @functools.wraps(guarded)
        async def page(*args: P.args, **kwargs: P.kwargs) -> Response:
            if await current_session() is None:
                if wants_fragment():
                    # fetch would follow a 303 and htmx put the sign-in page
                    # inside the old shell: have htmx load it as a whole page.
                    return Response("", status=200, headers={"HX-Redirect": sign_in_location()})
                return Response("", status=303, headers={"Location": sign_in_location()})
            try:
                return await guarded(*args, **kwargs)
            except ProblemError as refused:
                return await render_page(
                    "problem.html",
                    session=await current_session(),
                    status=refused.status,
                    headers=refused.headers,
                    problem=refused,
                )

        return page

    return decorate


def _placeholder(page: Page) -> PageHandler:
    async def placeholder() -> Response:
        return await render_page("not_built.html", session=await current_session(), current=page)

    placeholder.__name__ = f"placeholder_{page.slug.replace('-', '_')}"
    return placeholder


for _page in PAGES:
    if not _page.built:
        blueprint.add_url_rule(
            _page.path, view_func=session_page(_page.role)(_placeholder(_page)), methods=["GET"]
        )
