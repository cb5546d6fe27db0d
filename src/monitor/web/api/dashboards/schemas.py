"""The shapes of dashboard and widget requests and answers.

Request bodies are validated strictly (a number is not text, 1.0 is not an
integer): a dashboard is edited by tools and people, and a value that only
looks right is refused with the field named rather than coerced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.dashboards import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    MAX_WIDGETS_PER_DASHBOARD,
)
from monitor.domain.grid import DEFAULT_HEIGHT, DEFAULT_WIDTH, GRID_COLUMNS, MAX_HEIGHT, MAX_ROWS
from monitor.domain.widget_queries import WidgetKind

MAX_ID = 2**63 - 1
# Printable, and not only spaces (as key names).
PRINTABLE = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
NO_NUL = r"^[^\x00]*$"

Title = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)]
Description = Annotated[str, Field(max_length=2000, pattern=NO_NUL)]
ItemId = Annotated[int, Field(ge=1, le=MAX_ID)]
Column = Annotated[int, Field(ge=0, le=GRID_COLUMNS - 1, description="Left column, from 0.")]
Row = Annotated[int, Field(ge=0, le=MAX_ROWS - 1, description="Top row, from 0.")]
Width = Annotated[int, Field(ge=1, le=GRID_COLUMNS, description="Columns; x + w <= 12.")]
Height = Annotated[int, Field(ge=1, le=MAX_HEIGHT, description="Rows.")]
Query = Annotated[
    dict[str, Any],
    Field(
        description="The parameters of the route that draws the widget: text, numbers, "
        "true/false, or lists of those (a repeated parameter). Checked and run once when saved."
    ),
]
Options = Annotated[
    dict[str, Any],
    Field(description="How to draw it (units, thresholds, colours ...): free-form JSON."),
]

_STRICT = ConfigDict(extra="forbid", strict=True)


class DashboardIn(BaseModel):
    """A dashboard's own fields. `is_default`: true makes it the default (the previous
    default stops being it); false on the default is refused; omitted leaves it as it is."""

    model_config = _STRICT

    name: Title
    description: Description = ""
    is_default: bool | None = None


class WidgetReplace(BaseModel):
    """A widget's new fields, all of them (PUT replaces). `dashboard_id` moves it to
    another dashboard; omitted, it stays where it is."""

    model_config = _STRICT

    dashboard_id: ItemId | None = None
    title: Title
    kind: WidgetKind
    query: Query = Field(default_factory=dict)
    options: Options = Field(default_factory=dict)
    x: Column
    y: Row
    w: Width
    h: Height


class LayoutItem(BaseModel):
    model_config = _STRICT

    id: ItemId
    x: Column
    y: Row
    w: Width | None = Field(None, description="Omitted: as it is.")
    h: Height | None = Field(None, description="Omitted: as it is.")


class LayoutIn(BaseModel):
    """New places for widgets of the dashboard; those not named stay where they are."""

    model_config = _STRICT

    widgets: list[LayoutItem] = Field(max_length=MAX_WIDGETS_PER_DASHBOARD)


class ExportedDashboard(BaseModel):
    model_config = _STRICT

    name: Title
    description: Description = ""


class ExportedWidget(BaseModel):
    """A widget as export gives it and import takes it. Without `x` and `y` it goes below
    the widgets before it."""

    model_config = _STRICT

    title: Title
    kind: WidgetKind
    query: Query = Field(default_factory=dict)
    options: Options = Field(default_factory=dict)
    x: Column | None = None
    y: Row | None = None
    w: Width = DEFAULT_WIDTH
    h: Height = DEFAULT_HEIGHT


class WidgetIn(ExportedWidget):
    """A new widget. Without `dashboard_id` it goes on the default dashboard; without `x`
    and `y` below every widget there."""

    dashboard_id: ItemId | None = None


class DashboardExport(BaseModel):
    """A dashboard with its widgets, without ids: what export gives and import takes."""

    model_config = _STRICT

    format: Literal["monitor.dashboard"] = Field(description=f"Always `{EXPORT_FORMAT}`.")
    format_version: Literal[1] = Field(description=f"{EXPORT_FORMAT_VERSION} for now.")
    dashboard: ExportedDashboard
    widgets: list[ExportedWidget] = Field(max_length=MAX_WIDGETS_PER_DASHBOARD)


class WidgetOut(BaseModel):
    id: int
    dashboard_id: int
    title: str
    kind: WidgetKind
    query: dict[str, Any]
    options: dict[str, Any]
    x: int
    y: int
    w: int
    h: int
    version: int = Field(description='Also the `ETag` ("<version>") of GET; send in If-Match.')
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class WidgetList(BaseModel):
    widgets: list[WidgetOut] = Field(description="By id.")
    next_after: int | None = Field(
        description="Pass as `after` for the next page; null on the last page."
    )


class WidgetListQuery(BaseModel):
    dashboard_id: int | None = Field(None, ge=1, description="Only this dashboard's widgets.")
    after: int | None = Field(None, ge=0, description="Widgets with a larger id (paging).")
    limit: int | None = Field(None, ge=1, le=1000, description="Page size (default 100).")


class DashboardOut(BaseModel):
    id: int
    name: str
    description: str
    is_default: bool
    version: int = Field(
        description="Counts changes to the dashboard and to its widgets; the `ETag` of GET."
    )
    widget_count: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class DashboardDetail(DashboardOut):
    widgets: list[WidgetOut] = Field(description="Top to bottom, left to right.")


class DashboardList(BaseModel):
    dashboards: list[DashboardOut] = Field(description="The default first, then by name.")


class IfMatchHeader(BaseModel):
    if_match: str | None = Field(
        None,
        description='The version as read (the `ETag`, e.g. "3"), or *: the change is made '
        "only if it is still at that version, else 412. Omitted: the last write wins.",
    )
