"""Rendering a UI page: the whole document, or only its main part for htmx.

One template per page extends `layout`, which is `base.html` (the complete
document with header and navigation) or `fragment.html` (the title and the
main block): htmx asks with `HX-Request: true` for a part of the page and
gets just that; a browser without JavaScript, or htmx asking for the whole
page (`HX-Request-Type: full`), gets the document. Pages are per session:
`no-store`, and `Vary: HX-Request` since one URL has two forms.
"""

from __future__ import annotations

from typing import Any

from quart import Response, render_template, request

from monitor.domain.keys import Role
from monitor.resources import vendor_versions
from monitor.web.deps import current_deps
from monitor.web.edge.session_keeper import Session
from monitor.web.edge.sessions import csrf_token
from monitor.web.static_assets import asset_url
from monitor.web.ui.navigation import Page, sections, visible_to

FULL = "base.html"
FRAGMENT = "fragment.html"


def wants_fragment() -> bool:
    return (
        request.headers.get("HX-Request", "").lower() == "true"
        and request.headers.get("HX-Request-Type", "").lower() != "full"
    )


def wants_html() -> bool:
    """A browser's form post (Accept: text/html…) rather than an API-style client."""
    best = request.accept_mimetypes.best_match(["application/problem+json", "text/html"])
    return best == "text/html"


async def render_page(
    template: str,
    *,
    session: Session | None,
    current: Page | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    deps = current_deps()
    principal = session.principal if session else None
    navigation = visible_to(principal.role) if principal else []
    html = await render_template(
        template,
        layout=FRAGMENT if wants_fragment() else FULL,
        asset=asset_url,
        htmx_script=f"vendor/htmx-{vendor_versions()['htmx']}.min.js",
        principal=principal,
        csrf_token=csrf_token(deps.secret_keys, session) if session else None,
        navigation=navigation,
        navigation_sections=sections(navigation),
        current=current,
        admin=principal is not None and principal.role.may(Role.ADMIN),
        **context,
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("HX-Request")
    return response
