"""The pages of the operator UI: one place for each, the role it needs, whether it exists yet.

The navigation lists every page the signed-in key's role may see (so an admin
page is absent for a read key, not merely refused), in this order. A page
not built yet answers with an honest placeholder rather than a missing link:
the navigation already shows where it will be. Pages of one area (Notifications:
channels, policies, silences, inhibition) carry the area's name and are listed
together under it (`sections`).
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
    area: str | None = None  # the navigation's heading the page is listed under


NOTIFICATIONS = "Notifications"
OVERVIEW = Page("overview", "Overview", "/", Role.READ, built=True)

PAGES: tuple[Page, ...] = (
    OVERVIEW,
    Page("events", "Events", "/ui/events", Role.READ, built=True),
    Page("error-groups", "Error groups", "/ui/error-groups", Role.READ, built=True),
    Page("metrics", "Metrics", "/ui/metrics", Role.READ, built=True),
    Page("dashboards", "Dashboards", "/ui/dashboards", Role.READ, built=True),
    Page("alerts", "Alerts", "/ui/alerts", Role.READ, built=True),
    Page("channels", "Channels", "/ui/channels", Role.READ, built=True, area=NOTIFICATIONS),
    Page(
        "notification-policies",
        "Policies",
        "/ui/notification-policies",
        Role.READ,
        built=True,
        area=NOTIFICATIONS,
    ),
    Page("silences", "Silences", "/ui/silences", Role.READ, built=True, area=NOTIFICATIONS),
    Page(
        "inhibition-rules",
        "Inhibition rules",
        "/ui/inhibition-rules",
        Role.READ,
        built=True,
        area=NOTIFICATIONS,
    ),
    Page(
        "notifications",
        "Delivery log",
        "/ui/notifications",
        Role.READ,
        built=True,
        area=NOTIFICATIONS,
    ),
    Page("audit", "Audit log", "/ui/audit", Role.ADMIN, built=True),
    Page("keys", "API keys", "/ui/keys", Role.ADMIN, built=True),
    Page("system", "System", "/ui/system", Role.READ, built=True),
)


def visible_to(role: Role) -> list[Page]:
    return [page for page in PAGES if role.may(page.role)]


def sections(pages: list[Page]) -> list[tuple[str | None, list[Page]]]:
    """The pages in order, those of one area together under its name (None: no area)."""
    found: list[tuple[str | None, list[Page]]] = []
    for page in pages:
        if page.area is not None and found and found[-1][0] == page.area:
            found[-1][1].append(page)
        else:
            found.append((page.area, [page]))
    return found


def page_named(slug: str) -> Page:
    """The page with this slug (a page's module takes its path and role from here)."""
    return next(page for page in PAGES if page.slug == slug)
