"""Let Hypercorn finish a response without Quart-Trio cancelling it half-way.

Hypercorn ends an HTTP/1.1 response inside the app's last `send`: it hands the
app `http.disconnect`, then closes the socket (`Connection: close`, HTTP/1.0)
or re-arms the keep-alive timer. Quart-Trio cancels the request's tasks as
soon as `http.disconnect` arrives, and that cancellation lands at the next
checkpoint of the same `send` call: the socket was never closed (a
`Connection: close` client waited until it gave up itself) and the keep-alive
timer never restarted (idle connections stayed open for ever).

Once the last body message has been handed over the app has nothing left to
hear, so `http.disconnect` is held back from then on; Quart-Trio ends the
request itself when that `send` returns. A client leaving earlier is still
reported as before.
"""

from __future__ import annotations

import trio
from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)

from monitor.web.ws.direct import AsgiApp


def hold_disconnect_after_response(app: AsgiApp) -> AsgiApp:
    async def wrapped(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        response_sent = False

        async def tracked_send(message: ASGISendEvent) -> None:
            nonlocal response_sent
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                response_sent = True
            await send(message)

        async def held_receive() -> ASGIReceiveEvent:
            message = await receive()
            if response_sent and message["type"] == "http.disconnect":
                await trio.sleep_forever()  # cancelled by Quart-Trio once `send` returns
            return message

        await app(scope, held_receive, tracked_send)

    return wrapped
