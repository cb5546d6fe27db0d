"""The pages of the operator UI: one place for each, the role it needs, whether it exists yet.

The navigation lists every page the signed-in key's role may see (so an admin
page is absent for a read key, not merely refused), in this order. A page
not built yet answers with an honest placeholder rather than a missing link:
the navigation already shows where it will be.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.domain.keys import Role


@dataclass(frozen=True)
class Page:
    slug: str
    label: str
    path: str
    role: Role
    built: bool


OVERVIEW = Page("overview", "Overview", "/", Role.READ, built=True)

PAGES: tuple[Page, ...] = (
    OVERVIEW,
    Page("events", "Events", "/ui/events", Role.READ, built=True),
    Page("error-groups", "Error groups", "/ui/error-groups", Role.READ, built=True),
    Page("metrics", "Metrics", "/ui/metrics", Role.READ, built=True),
    Page("dashboards", "Dashboards", "/ui/dashboards", Role.READ, built=True),
    Page("alerts", "Alerts", "/ui/alerts", Role.READ, built=True),
    Page("silences", "Silences", "/ui/silences", Role.READ, built=True),
    Page("notifications", "Notifications", "/ui/notifications", Role.READ, built=False),
    Page("audit", "Audit log", "/ui/audit", Role.ADMIN, built=True),
    Page("keys", "API keys", "/ui/keys", Role.ADMIN, built=True),
    Page("system", "System", "/ui/system", Role.READ, built=True),
)


def visible_to(role: Role) -> list[Page]:
    return [page for page in PAGES if role.may(page.role)]


def page_named(slug: str) -> Page:
    """The page with this slug (a page's module takes its path and role from here)."""
    return next(page for page in PAGES if page.slug == slug)
