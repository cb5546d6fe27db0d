"""Who made a change through the API and from where, as the audit log records it.

Routes that change something pass `request_attribution()` down to storage,
which writes the audit row in the change's own transaction.
"""

from __future__ import annotations

from quart import g, request

from monitor.domain.audit import Actor, Attribution, Origin
from monitor.domain.client_ip import UNKNOWN, client_address
from monitor.web.deps import current_deps
from monitor.web.edge.auth import current_principal


def request_attribution() -> Attribution:
    """The authenticated key, the client's address (through trusted proxies) and the
    request id. Only for routes behind `require_role`."""
    principal = current_principal()
    address = client_address(
        request.remote_addr,
        request.headers.getlist("X-Forwarded-For"),
        current_deps().settings.trusted_proxies,
    )
    return Attribution(
        Actor.key(principal.name, principal.prefix),
        Origin(
            client_address=None if address == UNKNOWN else address,
            request_id=g.get("request_id"),
        ),
    )
