"""A widget's fields checked as saving it would check them: place, free-form JSON, query.

Shared by the widget routes and the web UI's forms, so the same input is
refused the same way (400 naming each field) wherever it comes from, before
anything is stored.
"""

from __future__ import annotations

from monitor.storage.dashboard_rows import WidgetFields
from monitor.web.api.dashboards.bodies import free_form_errors, invalid, placement_or_errors
from monitor.web.api.dashboards.schemas import WidgetIn, WidgetReplace
from monitor.web.api.dashboards.widget_queries import check_widget_query


async def checked_fields(data: WidgetIn | WidgetReplace) -> WidgetFields:
    """The widget's fields once its query, options and place are known to be good."""
    placement, errors = placement_or_errors(data.x, data.y, data.w, data.h)
    errors = free_form_errors(data.query, data.options) + errors
    if errors:
        raise invalid(errors)
    await check_widget_query(data.kind, data.query)
    return WidgetFields(
        title=data.title,
        kind=data.kind,
        query=data.query,
        options=data.options,
        placement=placement,
        dashboard_id=data.dashboard_id,
    )
