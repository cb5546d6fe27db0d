"""What the notification pages share about a posted form: reading it whole (bounded), and
answering a change made with a 303 (or, to htmx, `HX-Redirect`) to the page showing it."""

from __future__ import annotations

from quart import Response, request
from werkzeug.datastructures import MultiDict

from monitor.web.edge.problems import ProblemError
from monitor.web.ui.rendering import wants_fragment

# The largest notification document is 64 KiB of JSON; its form, every character
# percent-encoded UTF-8, fits in this. Anything larger is not read (413).
FORM_BYTES = 1024 * 1024


async def posted_form() -> MultiDict[str, str]:
    """The form's fields, repeated ones kept (checkbox lists), the CSRF token left out."""
    declared = request.content_length
    if declared is not None and declared > FORM_BYTES:
        raise ProblemError(413, f"the form is larger than {FORM_BYTES} bytes; nothing was changed")
    form = await request.form
    return MultiDict(
        [(name, value) for name, value in form.items(multi=True) if name != "csrf_token"]
    )


def go_to(location: str) -> Response:
    """A 303 to `location`; htmx is told to load it as a whole page."""
    if wants_fragment():
        response = Response("", status=200, headers={"HX-Redirect": location})
    else:
        response = Response("", status=303, headers={"Location": location})
    response.headers["Cache-Control"] = "no-store"
    return response
