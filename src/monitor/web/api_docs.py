"""`/docs`: the OpenAPI description rendered by Swagger UI, served from static/.

Our own page rather than quart-schema's, whose template is a fragment (no
doctype, language or charset) that browsers render in quirks mode.
"""

from __future__ import annotations

from quart import Blueprint, render_template, url_for
from quart_schema import hide

from monitor.resources import vendor_versions

blueprint = Blueprint("api_docs", __name__)


@blueprint.get("/docs")
@hide
async def swagger_ui() -> str:
    swagger = f"/static/vendor/swagger-ui-{vendor_versions()['swagger_ui']}"
    return await render_template(
        "api_docs.html",
        title="monitor",
        openapi_url=url_for("openapi"),
        swagger_js_url=f"{swagger}/swagger-ui-bundle.js",
        swagger_css_url=f"{swagger}/swagger-ui.css",
    )
