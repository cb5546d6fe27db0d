"""The System page: readiness of each component, the actors, this instance's counters, and
for admins the settings in force with their secrets hidden.

The figures come from the same functions as `/health/ready` and `/stats`,
so the page and the API never disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Blueprint, Response

from monitor.config import SETTINGS
from monitor.domain.keys import Role
from monitor.web.api.health.routes import readiness, service_stats
from monitor.web.deps import current_deps
from monitor.web.edge.sessions import current_session
from monitor.web.ui.navigation import page_named
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page

blueprint = Blueprint("ui_system", __name__)

SYSTEM = page_named("system")


def _settings_in_force() -> list[tuple[str, str]]:
    """(variable, value as `monitor config` prints it: secrets hidden) for each setting."""
    shown = current_deps().settings.redacted()
    return [(spec.env[0], shown[spec.field]) for spec in SETTINGS]


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


@blueprint.get(SYSTEM.path)
@session_page(SYSTEM.role)
async def system_page() -> Response:
    session = await current_session()
    assert session is not None  # session_page saw it
    ready = await readiness()
    stats = service_stats()
    return await render_page(
        "system.html",
        session=session,
        current=SYSTEM,
        ready=ready,
        stats=stats,
        actors=[
            (name, actor, _moment(actor.last_error_at)) for name, actor in stats.actors.items()
        ],
        settings=_settings_in_force() if session.principal.role.may(Role.ADMIN) else None,
    )
