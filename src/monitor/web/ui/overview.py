"""The overview page at `/`, and its live part for the page's script to refetch.

`GET /` is the whole page (or its main part, for htmx); `GET
/ui/overview/live` is only the part that changes (tiles, charts' data,
tables), which static/overview.js fetches again after the websocket reports
new events or alert changes, at most once a second. Both take the overview's parameters
(`range`, or `from` and `to`) and refuse others with a 400 page, as the API
would. While the database cannot be reached the page says so with 503 and
`Retry-After`, like the API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, request

from monitor.storage.errors import StorageUnavailable
from monitor.web.api.dashboard import answers
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.sessions import current_session
from monitor.web.ui.navigation import OVERVIEW
from monitor.web.ui.overview_answers import overview_answers
from monitor.web.ui.overview_view import view
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page, wants_fragment

blueprint = Blueprint("ui_overview", __name__)

LIVE_PATH = "/ui/overview/live"


def _live_url() -> str:
    pairs = [(name, value) for name, value in request.args.items(multi=True)]
    return LIVE_PATH + ("?" + urlencode(pairs) if pairs else "")


async def _shown(template: str, **extra: Any) -> Response:
    try:
        found = await overview_answers(request.args, answers.now())
    except StorageUnavailable as outage:
        raise ProblemError(
            503,
            "the database cannot be reached just now; the overview comes back by itself once it is",
            kind="storage-unavailable",
            headers={"Retry-After": str(outage.retry_after_seconds)},
        ) from None
    return await render_page(
        template,
        session=await current_session(),
        current=OVERVIEW,
        live_url=_live_url(),
        chosen_range=request.args.get("range"),
        absolute_range="from" in request.args,
        **view(found),
        **extra,
    )


@blueprint.get(OVERVIEW.path)
@session_page(OVERVIEW.role)
async def overview() -> Response:
    return await _shown("overview.html")


@blueprint.get(LIVE_PATH)
@session_page(OVERVIEW.role)
async def overview_live() -> Response:
    """The live part for the page's script (it asks as htmx does); opened by a browser
    itself, the whole overview, since every page is a complete document."""
    return await _shown("overview_live.html" if wants_fragment() else "overview.html")
