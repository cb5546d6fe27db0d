"""Security headers on every HTTP response: API answers, problems, static files, /docs.

Added at the ASGI level so that no response escapes them (an error page, a
static file, a response Quart builds itself). A header the route already set
is kept.

HTML pages get a policy that lets them load the service's own scripts, styles
and images and nothing inline: no inline script, event handler or style
element (`script-src 'self'`). The Swagger UI page (/docs) sets its own,
which allows inline styles (web/api_docs.py). Everything else is data and may
load nothing at all. No page may be framed (clickjacking).

Referrers are never sent, except by HTML pages to their own site
(`same-origin`): under `no-referrer` a browser sends `Origin: null` with a
form's POST, which the dashboard's CSRF check (web/edge/sessions.py) must
refuse, so its forms would never work. Other sites still get no referrer.
"""

from __future__ import annotations

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent, Scope

from monitor.web.ws.direct import AsgiApp

HTML_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers without CSP 2
)


def security_headers(app: AsgiApp) -> AsgiApp:
    async def wrapped(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                message = {**message, "headers": with_security_headers(headers)}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    html = content_type.split(b";", 1)[0].strip().lower() == b"text/html"
    policy = HTML_POLICY if html else DATA_POLICY
    referrers = b"same-origin" if html else b"no-referrer"
    wanted = (
        *COMMON,
        (b"content-security-policy", policy.encode()),
        (b"referrer-policy", referrers),
    )
    return headers + [(name, value) for name, value in wanted if name not in present]
