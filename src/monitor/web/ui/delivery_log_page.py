"""The Delivery log pages (read): every notification queued for a channel, and one of them.

The list reads the log as `GET /api/v1/notifications` does: the query is
parsed by the API's own `parse_delivery_query` and the rows come from
storage/deliveries.py `list_deliveries` (decision 0048: one way to read), so
a bad filter or cursor is the API's refusal, shown as a 400 page with the
form and the parameter it names. The filters live in the URL (a GET form,
bookmarkable); the time fields are `datetime-local` inputs read as UTC, as
on the audit log page. Pages follow the API's keyset cursor.

One delivery (`get_delivery`, as `GET /api/v1/notifications/{id}`) shows its
attempts and the message it carries, as the notifier made it: the group's
labels and each alert. Everything a receiver or an alert's labels put on
the page is escaped by the templates; long errors and answers are cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, request

from monitor.domain.cursors import encode_numbered_cursor
from monitor.notifications.groups import AlertInstance
from monitor.notifications.snapshot import alerts_of_snapshot
from monitor.storage import channels as channel_store
from monitor.storage import deliveries as store
from monitor.web.api.dashboard.answers import unknown_parameters
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.api.notifications.delivery_routes import WHAT, parse_delivery_query
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import invalid_query
from monitor.web.edge.sessions import current_session
from monitor.web.ui import form_times
from monitor.web.ui.dashboard_pages import api_steps
from monitor.web.ui.form_times import TIME_FIELDS, shown_time
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import utc_label
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page

blueprint = Blueprint("ui_delivery_log", __name__)

LOG = page_named("notifications")
CHANNELS_PATH = page_named("channels").path
RULES_PATH = page_named("alerts").path + "/rules"
PAGE_SIZE = 50
SHORT_ERROR = 160  # characters of a last error in the list; the delivery's page has it all
SHORT_RESPONSE = 500  # characters of a receiver's answer shown per attempt (2000 are kept)


@dataclass(frozen=True)
class ChannelChoice:
    id: int
    name: str


def _context() -> dict[str, Any]:
    return {
        "utc_label": utc_label,
        "log_path": LOG.path,
        "channels_path": CHANNELS_PATH,
        "rules_path": RULES_PATH,
        "statuses": store.DELIVERY_STATUSES,
        "short_error": SHORT_ERROR,
        "short_response": SHORT_RESPONSE,
    }


def _next_link(cursor: str) -> str:
    kept = [(name, value) for name, value in request.args.items(multi=True) if name != "cursor"]
    return LOG.path + "?" + urlencode([*kept, ("cursor", cursor)])


def channel_choices(
    live: list[ChannelChoice], rows: list[store.DeliveryRow], chosen: str
) -> list[ChannelChoice]:
    """The select's channels: those not deleted, by name, then a deleted (or unknown) one the
    filter names, so the form still shows what the page is filtered by."""
    known = {choice.id for choice in live}
    extra: list[ChannelChoice] = []
    if chosen.isdigit() and int(chosen) not in known:
        named = next((row.channel_name for row in rows if row.channel_id == int(chosen)), None)
        label = f"{named} (deleted)" if named else f"channel #{chosen}"
        extra.append(ChannelChoice(int(chosen), label))
    return live + extra


TOLD_FIELDS = ("rule_id", "instance_id")


@blueprint.get(LOG.path)
@session_page(LOG.role)
async def delivery_log() -> Response:
    gateway = current_deps().gateway
    with api_steps():
        channels = await channel_store.list_channels(gateway)
    live = [ChannelChoice(channel.id, channel.name) for channel in channels]
    filters = {name: request.args.get(name, "") for name in ("status", "channel_id")}
    # Set by the alerts pages' links, not by the form: kept through it as hidden fields.
    told = {name: request.args.get(name, "") for name in TOLD_FIELDS if request.args.get(name)}
    for name in TIME_FIELDS:
        filters[name] = shown_time(request.args.get(name, ""))
    common: dict[str, Any] = {
        "session": await current_session(),
        "current": LOG,
        "filters": filters,
        "told": told,
        "filtered": any(request.args.get(name) for name in request.args),
        "live_channels": {choice.id for choice in live},
        **_context(),
    }
    try:
        found, limit, before = parse_delivery_query(
            form_times.as_utc(request.args, page_size=PAGE_SIZE)
        )
    except ProblemError as invalid:
        if invalid.status != 400:
            raise
        problems = [f"{item['field']}: {item['message']}" for item in invalid.errors or []]
        return await render_page(
            "delivery_log.html",
            status=400,
            rows=[],
            next_link=None,
            problems=problems,
            channels=channel_choices(live, [], filters["channel_id"]),
            **common,
        )
    with api_steps():
        rows = await store.list_deliveries(gateway, found, limit=limit + 1, before=before)
    page = rows[:limit]
    next_link = (
        _next_link(encode_numbered_cursor(page[-1].created_at, page[-1].id))
        if len(rows) > limit
        else None
    )
    return await render_page(
        "delivery_log.html",
        rows=page,
        next_link=next_link,
        problems=[],
        channels=channel_choices(live, page, filters["channel_id"]),
        **common,
    )


def message_alerts(row: store.DeliveryRow) -> list[AlertInstance]:
    """The alerts of the delivery's message, or none when it carries none (a list row)."""
    if row.message is None:
        return []
    return list(alerts_of_snapshot(row.message))


@blueprint.get(LOG.path + "/<int:delivery_id>")
@session_page(LOG.role)
async def delivery(delivery_id: int) -> Response:
    unknown = unknown_parameters(request.args, frozenset())
    if unknown:
        raise invalid_query(unknown)
    gateway = current_deps().gateway
    with api_steps():
        found = await store.get_delivery(gateway, existing_id(WHAT, delivery_id))
        if found is None:
            raise not_found(WHAT, delivery_id)
        channel = await channel_store.get_channel(gateway, found.channel_id)
    return await render_page(
        "delivery.html",
        session=await current_session(),
        current=LOG,
        delivery=found,
        alerts=message_alerts(found),
        channel_live=channel is not None,
        **_context(),
    )
