"""A widget's fields checked as saving it would check them: place, free-form JSON, query.

Shared by the widget routes, import, and the web UI's widget form, so the
same input is refused the same way (400 naming each field) wherever it comes
from, before anything is stored.
"""

from __future__ import annotations

from typing import Any

from monitor.storage.dashboard_rows import WidgetFields
from monitor.web.api.dashboards.bodies import free_form_errors, invalid, placement_or_errors
from monitor.web.api.dashboards.schemas import DashboardExport, WidgetIn, WidgetReplace
from monitor.web.api.dashboards.widget_queries import check_widget_query
from monitor.web.edge.problems import ProblemError


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
        size=(data.w, data.h),  # kept when it goes below the others
    )


async def imported_widgets(data: DashboardExport) -> list[WidgetFields]:
    """Every widget checked as a new one would be; one 400 naming all that are not."""
    fields: list[WidgetFields] = []
    errors: list[dict[str, Any]] = []
    for index, widget in enumerate(data.widgets):
        prefix = f"widgets.{index}."
        placement, problems = placement_or_errors(widget.x, widget.y, widget.w, widget.h, prefix)
        errors.extend(free_form_errors(widget.query, widget.options, prefix) + problems)
        fields.append(
            WidgetFields(
                widget.title,
                widget.kind,
                widget.query,
                widget.options,
                placement,
                None,
                size=(widget.w, widget.h),
            )
        )
    if errors:
        raise invalid(errors)
    for index, widget in enumerate(data.widgets):
        try:
            await check_widget_query(widget.kind, widget.query)
        except ProblemError as refusal:
            errors.extend(
                {**error, "field": f"widgets.{index}.{error['field']}"}
                for error in refusal.errors or ()
            )
    if errors:
        raise invalid(errors, "a widget's query is invalid")
    return fields
