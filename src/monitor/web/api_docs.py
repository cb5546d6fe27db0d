"""`/docs`: the OpenAPI description rendered by Swagger UI, served from static/.

Our own page rather than quart-schema's, whose template is a fragment (no
doctype, language or charset) that browsers render in quirks mode. Swagger
UI starts from static/docs.js (no inline script); it writes style elements,
so this page's policy allows inline styles, which the UI's pages do not.
"""

from __future__ import annotations

from quart import Blueprint, Response, render_template, url_for
from quart_schema import hide

from monitor.resources import vendor_versions
from monitor.web.edge.security_headers import HTML_POLICY
from monitor.web.static_assets import asset_url

blueprint = Blueprint("api_docs", __name__)

DOCS_POLICY = HTML_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


@blueprint.get("/docs")
@hide
async def swagger_ui() -> Response:
    swagger = f"vendor/swagger-ui-{vendor_versions()['swagger_ui']}"
    html = await render_template(
        "api_docs.html",
        title="monitor",
        openapi_url=url_for("openapi"),
        swagger_js_url=asset_url(f"{swagger}/swagger-ui-bundle.js"),
        swagger_css_url=asset_url(f"{swagger}/swagger-ui.css"),
        start_url=asset_url("docs.js"),
        icon_url=asset_url("favicon.svg"),
    )
    return Response(
        html,
        content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": DOCS_POLICY},
    )
