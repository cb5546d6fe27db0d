"""The alert rule editor over HTTP: creating, editing, enabling, disabling and deleting a
rule through the API's own steps (same refusals, same audit rows), the live preview and
the backtest, roles, CSRF, hostile input, stale versions and unknown ids.

The browser test is test_ui_alert_rule_editor_browser.py. Each test has a service and a
database of its own (ui_site.own_site), so the rules and audit rows are only its own.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from alert_helpers import add_instance
from conftest import StartService
from monitor.alert_templates import template_problem
from monitor.domain.alert_rules import parse_rule, rule_document
from monitor.web.ui.rule_form import form_values, rule_body
from rule_editor_helpers import hour_of_samples
from test_domain_alert_rules import rule_documents
from ui_site import BROWSER_ACCEPT, FOREIGN, SITE, UiSite, own_site
from ws_helpers import connect, receive, subscribe

RULES = "/ui/alerts/rules"
NEW = RULES + "/new"


class Site(UiSite):
    csrf_page = RULES

    async def post(
        self, path: str, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.post(
            path,
            data=data,
            headers={"Origin": SITE, "Accept": BROWSER_ACCEPT} if headers is None else headers,
        )

    async def samples(self) -> str:
        """A metric of this test's own: host a above 5 from 40 to 20 minutes ago, b never."""
        name = f"editor_{uuid.uuid4().hex[:10]}"
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        rows = hour_of_samples(name, now)
        answer = await self.http.post("/api/v1/metrics/bulk", json=rows, headers=self.api())
        assert answer.status_code == 201, answer.text
        return name


def rule_form(metric: str = "http_request_seconds", **fields: str) -> dict[str, str]:
    """The form as a person fills it for a metric threshold rule."""
    return {
        "name": "api latency high",
        "kind": "metric_threshold",
        "enabled": "on",
        "description": "p95 latency of the API",
        "severity": "warning",
        "interval": "1m",
        "for": "2m",
        "keep_firing_for": "0s",
        "offset": "0s",
        "no_data": "no_data",
        "metric": metric,
        "matchers": "",
        "aggregation": "max",
        "window": "1m",
        "group_by": "host",
        "comparator": ">",
        "threshold": "5",
        "resolve_threshold": "4",
        "labels": "team=api",
        "annotations": "summary=max {{ value }} on {{ labels.host }}",
        **fields,
    }


# The same rule as the API takes it.
def api_body(metric: str = "http_request_seconds", **fields: Any) -> dict[str, Any]:
    return {
        "name": "api latency high",
        "kind": "metric_threshold",
        "enabled": True,
        "description": "p95 latency of the API",
        "severity": "warning",
        "interval": "1m",
        "for": "2m",
        "keep_firing_for": "0s",
        "offset": "0s",
        "no_data": "no_data",
        "selector": {"name": metric, "labels": {}},
        "aggregation": "max",
        "window": "1m",
        "group_by": ["host"],
        "comparator": ">",
        "threshold": 5,
        "resolve_threshold": 4,
        "labels": {"team": "api"},
        "annotations": {"summary": "max {{ value }} on {{ labels.host }}"},
        **fields,
    }


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    async with own_site(start_service, tmp_path, "editor", Site) as running:
        yield running


def query(database_url: str, sql: str, *params: Any) -> list[Any]:
    with psycopg.connect(database_url) as connection:
        return [row[0] for row in connection.execute(sql, params).fetchall()]


def rule_count(database_url: str) -> int:
    return int(query(database_url, "select count(*) from alert_rules")[0])


def audit_rows(database_url: str, rule_id: int) -> list[dict[str, Any]]:
    found = query(
        database_url,
        "select row_to_json(a)::text from audit_log a "
        "where resource = 'alert_rule' and resource_id = %s order by id",
        str(rule_id),
    )
    return [json.loads(text) for text in found]


def without_name(snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if snapshot is None else {k: v for k, v in snapshot.items() if k != "name"}


def same_latest_audit(database_url: str, page_id: int, api_id: int) -> None:
    same_audit(audit_rows(database_url, page_id)[-1], audit_rows(database_url, api_id)[-1])


def same_audit(page_row: dict[str, Any], api_row: dict[str, Any]) -> None:
    """Two audit rows alike but for the rule's name (names are unique)."""
    same = ("actor_kind", "actor_name", "actor_prefix", "action", "resource")
    assert {k: page_row[k] for k in same} == {k: api_row[k] for k in same}
    assert without_name(page_row["before"]) == without_name(api_row["before"])
    assert without_name(page_row["after"]) == without_name(api_row["after"])


async def created(site: Site, csrf: str, form: dict[str, str]) -> int:
    answer = await site.post(NEW, {"csrf_token": csrf, **form})
    problems = re.findall(r"<li><code>.*?</li>", answer.text)
    assert answer.status_code == 303, problems
    found = re.fullmatch(r"/ui/alerts/rules/(\d+)\?saved=created", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found[1])


def field_problem(page: str, field: str) -> str:
    """The problems shown beside a form field."""
    found = re.search(rf'<div class="field invalid" data-field="{field}".*?</div>', page, re.S)
    assert found, f"no problem beside {field}"
    return found[0]


# Creating.


async def test_a_rule_created_from_the_form_is_the_apis_rule_with_the_apis_audit_row(
    site: Site,
) -> None:
    csrf = await site.sign_in("admin")
    listing = await site.http.get(RULES)
    assert f'<a href="{NEW}">New rule</a>' in listing.text
    form = await site.http.get(NEW)
    assert form.status_code == 200
    for name in (
        "metric",
        "matchers",
        "filters",
        "condition",
        "aggregation",
        "measure",
        "window",
        "group_by",
        "lookback",
        "resolve_after",
        "comparator",
        "threshold",
        "resolve_threshold",
        "for",
        "keep_firing_for",
        "no_data",
        "interval",
        "offset",
        "labels",
        "annotations",
        "description",
        "severity",
        "absence_of",
        "enabled",
    ):
        assert f'name="{name}"' in form.text, name
    assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\")=?)", form.text)
    assert not re.search(r"\s(on[a-z]+|style)=", form.text)
    rule_id = await created(site, csrf, rule_form(name="by the page"))
    page = await site.http.get(f"{RULES}/{rule_id}?saved=created")
    assert "The rule is created." in page.text
    api = await site.http.post(
        "/api/v1/alerts", json=api_body(name="by the api"), headers=site.api()
    )
    assert api.status_code == 201, api.text
    by_api = api.json()
    by_page = (await site.http.get(f"/api/v1/alerts/{rule_id}", headers=site.api())).json()
    assert {**by_page["rule"], "name": "x"} == {**by_api["rule"], "name": "x"}
    [page_row] = audit_rows(site.database_url, rule_id)
    [api_row] = audit_rows(site.database_url, by_api["id"])
    same_audit(page_row, api_row)
    assert page_row["actor_name"] == "editor admin"


async def test_every_kind_is_saved_from_its_fields(site: Site) -> None:
    csrf = await site.sign_in("admin")
    forms = {
        "event_count": {
            "kind": "event_count",
            "filters": "level=error&source=api&source=db",
            "measure": "rate",
            "group_by": "source",
            "threshold": "0.5",
            "resolve_threshold": "",
        },
        "error_group": {
            "kind": "error_group",
            "condition": "regression",
            "filters": "source=api",
            "resolve_after": "2h",
        },
        "frequency": {
            "kind": "error_group",
            "condition": "frequency",
            "filters": "",
            "window": "10m",
            "comparator": ">=",
            "threshold": "3",
            "resolve_threshold": "",
        },
        "absence": {
            "kind": "absence",
            "absence_of": "metrics",
            "metric": "heartbeat",
            "matchers": "env!=dev\nenv!=test",
            "group_by": "host",
            "lookback": "2d",
        },
        "absence of events": {
            "kind": "absence",
            "absence_of": "events",
            "filters": "source=cron",
            "group_by": "type",
            "lookback": "1d",
        },
    }
    expected = {
        "event_count": {
            "filters": {"level": "error", "source": ["api", "db"]},
            "aggregation": "rate",
            "group_by": ["source"],
            "threshold": 0.5,
        },
        "error_group": {
            "condition": "regression",
            "filters": {"source": "api"},
            "resolve_after": "2h",
        },
        "frequency": {
            "condition": "frequency",
            "window": "10m",
            "comparator": ">=",
            "threshold": 3,
        },
        "absence": {
            "selector": {"name": "heartbeat", "labels": {"env!": ["dev", "test"]}},
            "group_by": ["host"],
            "lookback": "2d",
            "window": "1m",
        },
        "absence of events": {
            "filters": {"source": "cron"},
            "group_by": ["type"],
            "lookback": "1d",
        },
    }
    for name, fields in forms.items():
        rule_id = await created(site, csrf, rule_form(name=name, **fields))
        stored = (await site.http.get(f"/api/v1/alerts/{rule_id}", headers=site.api())).json()
        for key, value in expected[name].items():
            assert stored["rule"][key] == value, (name, key, stored["rule"])


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "a\x00b"}, "name", "NUL"),
        ({"name": "x" * 100_000}, None, "at most 65536"),
        ({"name": ""}, "name", "1 to 200 characters"),
        ({"description": "\x00"}, "description", "NUL"),
        ({"kind": "sometimes"}, "kind", "must be one of"),
        ({"threshold": "lots"}, "threshold", "must be a number"),
        ({"threshold": "1e999"}, "threshold", "finite"),
        ({"threshold": "9" * 5000}, "threshold", "finite"),
        ({"threshold": "0x10"}, "threshold", "must be a number"),
        ({"threshold": ""}, "threshold", "is required"),
        ({"window": "-5m"}, "window", "negative"),
        ({"window": "999999d"}, "window", "at most"),
        ({"window": "2d"}, "window", "from 10s to 1d"),
        ({"interval": "1s"}, "interval", "from 5s to 1d"),
        ({"for": "8d"}, "for", "from 0s to 7d"),
        ({"aggregation": "median"}, "aggregation", "must be one of"),
        ({"comparator": "≥"}, "comparator", "must be one of"),
        ({"resolve_threshold": "6"}, "resolve_threshold", "at most threshold"),
        ({"metric": "no spaces"}, "metric", "metric name"),
        ({"matchers": "service"}, "matchers", "label=value"),
        ({"matchers": "bad-name=x"}, "matchers", "must match"),
        ({"group_by": "host host"}, "group_by", "each once"),
        ({"labels": "rule=x"}, "labels", "set on every instance"),
        ({"labels": "no equals sign"}, "labels", "name=value"),
        ({"annotations": "summary={{ value | nosuch }}"}, "annotations", "nosuch"),
        ({"annotations": "summary={{ value "}, "annotations", "summary"),
        ({"annotations": "summary={% for x in labels %}{% endfor %}"}, "annotations", "for"),
        ({"severity": "loud"}, "severity", "must be one of"),
        ({"no_data": "panic"}, "no_data", "must be one of"),
        ({"kind": "event_count", "filters": "colour=red"}, "filters", "not an event filter"),
        ({"kind": "event_count", "measure": "sum"}, "measure", "must be one of"),
        ({"kind": "absence", "lookback": "30s", "window": "1m"}, "lookback", "at least"),
    ],
)
async def test_a_refused_form_comes_back_as_typed_with_each_problem_beside_its_field(
    site: Site, fields: dict[str, str], field: str | None, message: str
) -> None:
    csrf = await site.sign_in("admin")
    form = rule_form(**fields)
    refused = await site.post(NEW, {"csrf_token": csrf, **form})
    assert refused.status_code == 400, refused.text[:2000]
    assert refused.headers["content-type"].startswith("text/html")
    assert "Not saved: the rule is invalid" in refused.text
    if field is None:  # the whole rule's problem: listed above the form
        assert re.search(rf"<li><code>\(body\)</code>: [^<]*{message}", refused.text)
    else:
        beside = field_problem(refused.text, field)
        assert message in beside, beside
        assert 'aria-invalid="true"' in beside
    assert "\x00" not in refused.text
    if len(form["name"]) < 300 and "\x00" not in form["name"]:
        assert f'value="{form["name"]}"' in refused.text  # kept as typed
    assert rule_count(site.database_url) == 0


async def test_a_unicode_name_and_a_template_over_lines_are_kept_exactly(site: Site) -> None:
    csrf = await site.sign_in("admin")
    annotations = "summary=first line\n second <b>line</b>\n\ndescription=ok"
    rule_id = await created(
        site, csrf, rule_form(name="Zeitüberschreitung 🚨 日本", annotations=annotations)
    )
    stored = (await site.http.get(f"/api/v1/alerts/{rule_id}", headers=site.api())).json()
    assert stored["rule"]["name"] == "Zeitüberschreitung 🚨 日本"
    assert stored["rule"]["annotations"] == {
        "summary": "first line\nsecond <b>line</b>",
        "description": "ok",
    }
    editor = await site.http.get(f"{RULES}/{rule_id}/edit")
    assert "summary=first line\n second &lt;b&gt;line&lt;/b&gt;" in editor.text
    assert "<b>line" not in editor.text


async def test_a_name_in_use_is_the_apis_409_beside_the_name(site: Site) -> None:
    csrf = await site.sign_in("admin")
    await created(site, csrf, rule_form(name="Taken"))
    refused = await site.post(NEW, {"csrf_token": csrf, **rule_form(name="taken")})
    assert refused.status_code == 409
    assert "is taken by another rule" in field_problem(refused.text, "name")
    assert rule_count(site.database_url) == 1


async def test_a_form_larger_than_any_rule_is_a_413_and_not_read(site: Site) -> None:
    csrf = await site.sign_in("admin")
    refused = await site.post(NEW, {"csrf_token": csrf, **rule_form(description="x" * 2_000_000)})
    assert refused.status_code == 413
    assert rule_count(site.database_url) == 0


# Editing, enabling, deleting.


async def test_the_edit_form_shows_the_stored_rule_and_saving_is_the_apis_put(
    site: Site,
) -> None:
    csrf = await site.sign_in("admin")
    by_page = await created(site, csrf, rule_form(name="edited by the page", matchers="env!=dev"))
    api = await site.http.post(
        "/api/v1/alerts",
        json=api_body(
            name="edited by the api",
            selector={"name": "http_request_seconds", "labels": {"env!": "dev"}},
        ),
        headers=site.api(),
    )
    by_api = api.json()["id"]
    rule_page = await site.http.get(f"{RULES}/{by_page}")
    assert f'<a href="{RULES}/{by_page}/edit">Edit</a>' in rule_page.text
    editor = await site.http.get(f"{RULES}/{by_page}/edit")
    assert editor.status_code == 200
    assert 'name="version" value="1"' in editor.text
    assert 'value="edited by the page"' in editor.text
    assert ">env!=dev</textarea>" in editor.text
    assert '<option value="max" selected>max</option>' in editor.text
    saved = await site.post(
        f"{RULES}/{by_page}/edit",
        {
            "csrf_token": csrf,
            "version": "1",
            **rule_form(name="edited by the page", matchers="env!=dev", threshold="7.5"),
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{RULES}/{by_page}?saved=saved"
    put = await site.http.put(
        f"/api/v1/alerts/{by_api}",
        json=api_body(
            name="edited by the api",
            threshold=7.5,
            selector={"name": "http_request_seconds", "labels": {"env!": "dev"}},
        ),
        headers={**site.api(), "If-Match": '"1"'},
    )
    assert put.status_code == 200, put.text
    same_latest_audit(site.database_url, by_page, by_api)
    assert audit_rows(site.database_url, by_page)[-1]["after"]["threshold"] == 7.5


async def test_a_save_over_a_newer_version_is_the_412_page_and_changes_nothing(
    site: Site,
) -> None:
    csrf = await site.sign_in("admin")
    rule_id = await created(site, csrf, rule_form())
    changed = await site.http.put(
        f"/api/v1/alerts/{rule_id}", json=api_body(threshold=9), headers=site.api()
    )
    assert changed.status_code == 200
    for path, fields in (
        (f"{RULES}/{rule_id}/edit", rule_form(threshold="6")),
        (f"{RULES}/{rule_id}/enabled", {"enabled": "false"}),
        (f"{RULES}/{rule_id}/delete", {}),
    ):
        stale = await site.post(path, {"csrf_token": csrf, "version": "1", **fields})
        assert stale.status_code == 412, path
        assert "Someone else changed it" in stale.text
        assert f'href="{RULES}/{rule_id}/edit"' in stale.text
    stored = (await site.http.get(f"/api/v1/alerts/{rule_id}", headers=site.api())).json()
    assert stored["version"] == 2 and stored["rule"]["threshold"] == 9
    assert stored["rule"]["enabled"] is True
    missing = await site.post(f"{RULES}/{rule_id}/edit", {"csrf_token": csrf, **rule_form()})
    assert missing.status_code == 400  # no version: never a blind overwrite


async def test_disabling_and_enabling_from_the_rules_page_is_the_apis_put(site: Site) -> None:
    csrf = await site.sign_in("admin")
    rule_id = await created(site, csrf, rule_form(name="page"))
    api_id = (
        await site.http.post("/api/v1/alerts", json=api_body(name="api"), headers=site.api())
    ).json()["id"]
    page = await site.http.get(f"{RULES}/{rule_id}")
    assert '<button type="submit" class="secondary">Disable</button>' in page.text
    done = await site.post(
        f"{RULES}/{rule_id}/enabled", {"csrf_token": csrf, "version": "1", "enabled": "false"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{RULES}/{rule_id}?saved=disabled"
    await site.http.put(
        f"/api/v1/alerts/{api_id}", json=api_body(name="api", enabled=False), headers=site.api()
    )
    same_latest_audit(site.database_url, rule_id, api_id)
    shown = await site.http.get(done.headers["location"])
    assert "The rule is disabled; its open instances are resolved." in shown.text
    assert '<button type="submit" class="secondary">Enable</button>' in shown.text
    again = await site.post(
        f"{RULES}/{rule_id}/enabled", {"csrf_token": csrf, "version": "2", "enabled": "true"}
    )
    assert again.status_code == 303
    assert query(site.database_url, "select enabled from alert_rules where id = %s", rule_id) == [
        True
    ]
    bad = await site.post(
        f"{RULES}/{rule_id}/enabled", {"csrf_token": csrf, "version": "3", "enabled": "maybe"}
    )
    assert bad.status_code == 400


async def test_deleting_asks_first_then_is_the_apis_delete(site: Site) -> None:
    csrf = await site.sign_in("admin")
    rule_id = await created(site, csrf, rule_form(name="page"))
    api_id = (
        await site.http.post("/api/v1/alerts", json=api_body(name="api"), headers=site.api())
    ).json()["id"]
    confirm = await site.http.get(f"{RULES}/{rule_id}/delete")
    assert confirm.status_code == 200
    assert "Delete the rule “page”?" in confirm.text
    assert 'name="version" value="1"' in confirm.text
    assert rule_count(site.database_url) == 2  # asking deleted nothing
    done = await site.post(f"{RULES}/{rule_id}/delete", {"csrf_token": csrf, "version": "1"})
    assert done.status_code == 303
    assert done.headers["location"] == f"{RULES}?saved=deleted"
    await site.http.delete(f"/api/v1/alerts/{api_id}", headers=site.api())
    same_latest_audit(site.database_url, rule_id, api_id)
    listing = await site.http.get(done.headers["location"])
    assert "The rule is deleted" in listing.text and f'id="rule-{rule_id}"' not in listing.text
    gone = await site.http.get(f"{RULES}/{rule_id}/edit")
    assert gone.status_code == 404


@pytest.mark.parametrize("rule_id", ["999999", str(2**63 + 1)])
async def test_an_unknown_rule_is_a_404_page_everywhere(site: Site, rule_id: str) -> None:
    csrf = await site.sign_in("admin")
    for path in (f"{RULES}/{rule_id}/edit", f"{RULES}/{rule_id}/delete"):
        assert (await site.http.get(path)).status_code == 404, path
    for path, fields in (
        (f"{RULES}/{rule_id}/edit", {"version": "1", **rule_form()}),
        (f"{RULES}/{rule_id}/edit/preview", rule_form()),
        (f"{RULES}/{rule_id}/edit/backtest", rule_form()),
        (f"{RULES}/{rule_id}/enabled", {"version": "1", "enabled": "true"}),
        (f"{RULES}/{rule_id}/delete", {"version": "1"}),
    ):
        answer = await site.post(path, {"csrf_token": csrf, **fields})
        assert answer.status_code == 404, path
        assert "no alert rule with id" in answer.text.lower()
    assert rule_count(site.database_url) == 0


# Roles, sessions, CSRF.


def editor_routes(rule_id: int) -> list[tuple[str, str, dict[str, str]]]:
    one = f"{RULES}/{rule_id}"
    return [
        ("GET", NEW, {}),
        ("POST", NEW, rule_form(name="forged")),
        ("POST", NEW + "/preview", rule_form()),
        ("POST", NEW + "/backtest", rule_form()),
        ("GET", one + "/edit", {}),
        ("POST", one + "/edit", {"version": "1", **rule_form(threshold="1")}),
        ("POST", one + "/edit/preview", rule_form()),
        ("POST", one + "/edit/backtest", rule_form()),
        ("POST", one + "/enabled", {"version": "1", "enabled": "false"}),
        ("GET", one + "/delete", {}),
        ("POST", one + "/delete", {"version": "1"}),
    ]


@pytest.mark.parametrize("role", ["read", "write"])
async def test_read_and_write_sessions_see_no_editor_and_are_refused_it(
    site: Site, role: str
) -> None:
    admin_csrf = await site.sign_in("admin")
    rule_id = await created(site, admin_csrf, rule_form())
    csrf = await site.sign_in(role)
    listing = await site.http.get(RULES)
    assert "New rule" not in listing.text
    page = await site.http.get(f"{RULES}/{rule_id}")
    assert "/edit" not in page.text and "/delete" not in page.text and "Disable" not in page.text
    for method, path, fields in editor_routes(rule_id):
        if method == "GET":
            answer = await site.http.get(path)
        else:
            answer = await site.post(path, {"csrf_token": csrf, **fields})
        assert answer.status_code == 403, (method, path)
        assert answer.headers["content-type"].startswith("text/html")
    assert rule_count(site.database_url) == 1
    assert len(audit_rows(site.database_url, rule_id)) == 1


async def test_without_a_session_the_editor_sends_the_browser_to_sign_in(site: Site) -> None:
    for method, path, fields in editor_routes(1):
        answer = await site.http.get(path) if method == "GET" else await site.post(path, fields)
        assert answer.status_code == 303, (method, path)
        assert answer.headers["location"].startswith("/ui/sign-in"), path


@pytest.mark.parametrize(
    ("csrf", "origin"), [(None, SITE), ("wrong", SITE), ("session", FOREIGN), ("session", None)]
)
async def test_a_post_without_the_sessions_csrf_token_and_origin_is_refused(
    site: Site, csrf: str | None, origin: str | None
) -> None:
    token = await site.sign_in("admin")
    rule_id = await created(site, token, rule_form(name="kept"))
    headers = {"Accept": BROWSER_ACCEPT} | ({"Origin": origin} if origin else {})
    for method, path, fields in editor_routes(rule_id):
        if method == "GET":
            continue
        data = dict(fields)
        if csrf is not None:
            data["csrf_token"] = token if csrf == "session" else csrf
        refused = await site.post(path, data, headers=headers)
        assert refused.status_code == 403, path
    assert rule_count(site.database_url) == 1
    assert len(audit_rows(site.database_url, rule_id)) == 1


# The preview and the backtest.


async def test_the_live_preview_charts_the_rules_series_with_its_thresholds_and_tests_it(
    site: Site,
) -> None:
    csrf = await site.sign_in("admin")
    metric = await site.samples()
    answer = await site.http.post(
        NEW + "/preview",
        data={"csrf_token": csrf, **rule_form(metric, window="5m", preview_range="1h")},
        headers={"Origin": SITE, "HX-Request": "true"},
    )
    assert answer.status_code == 200, answer.text[:2000]
    assert not answer.text.lstrip().lower().startswith("<!doctype")
    found = re.search(
        r'<script type="application/json" id="preview-chart-data">(.*?)</script>', answer.text
    )
    assert found, answer.text[:3000]
    chart = json.loads(found[1])
    assert [s["label"] for s in chart["series"]] == ["host=a", "host=b"]  # nearest firing first
    assert [line["value"] for line in chart["thresholds"]] == [5, 4]
    assert 30 <= len(chart["times"]) <= 61  # every minute of the hour
    assert chart["times"] == sorted(chart["times"])
    assert max(v for v in chart["series"][0]["values"] if v is not None) == 10.0
    assert set(v for v in chart["series"][1]["values"] if v is not None) == {1.0}
    # `test` now: both hosts at 1, below the threshold, annotations rendered.
    assert '<th scope="row">host=a</th>' in answer.text
    assert "max 1.0 on a" in answer.text
    assert rule_count(site.database_url) == 0


async def test_the_preview_draws_the_ten_groups_nearest_to_firing_and_counts_the_rest(
    site: Site,
) -> None:
    csrf = await site.sign_in("admin")
    name = f"many_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = [
        {
            "name": name,
            "labels": {"host": f"h{host:02d}"},
            "value": float(host),
            "time": (now - timedelta(minutes=minute)).isoformat(),
        }
        for host in range(12)
        for minute in range(1, 30)
    ]
    stored = await site.http.post("/api/v1/metrics/bulk", json=rows, headers=site.api())
    assert stored.status_code == 201, stored.text
    for comparator, shown in ((">", range(11, 1, -1)), ("<", range(10))):
        answer = await site.http.post(
            NEW + "/preview",
            data={
                "csrf_token": csrf,
                **rule_form(name, window="5m", comparator=comparator, resolve_threshold=""),
            },
            headers={"Origin": SITE, "HX-Request": "true"},
        )
        found = re.search(r'id="preview-chart-data">(.*?)</script>', answer.text)
        assert found, answer.text[:2000]
        labels = [series["label"] for series in json.loads(found[1])["series"]]
        assert labels == [f"host=h{host:02d}" for host in shown], comparator
        assert "2 more groups not drawn: the 10 nearest to firing are." in answer.text


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"threshold": "1e"},
        {"kind": "nonsense"},
        {"annotations": "summary={{"},
        {"metric": "\x00"},
        {"window": "9" * 1000},
        {"matchers": "é=ü"},
    ],
)
async def test_a_draft_wrong_mid_typing_is_previewed_as_its_problems_not_an_error(
    site: Site, fields: dict[str, str]
) -> None:
    csrf = await site.sign_in("admin")
    for route in ("/preview", "/backtest"):
        answer = await site.http.post(
            NEW + route,
            data={"csrf_token": csrf, **rule_form(**fields)},
            headers={"Origin": SITE, "HX-Request": "true"},
        )
        assert answer.status_code == 200, answer.text[:2000]
        assert "Cannot be" in answer.text and "<code>" in answer.text
    assert rule_count(site.database_url) == 0


async def test_a_backtest_shows_the_transitions_and_firing_time_and_shades_the_chart(
    site: Site,
) -> None:
    csrf = await site.sign_in("admin")
    metric = await site.samples()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    span = {
        "from": (now - timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M"),
        "to": now.strftime("%Y-%m-%dT%H:%M"),
    }
    answer = await site.http.post(
        NEW + "/backtest",
        data={"csrf_token": csrf, **rule_form(metric), **span},
        headers={"Origin": SITE, "HX-Request": "true"},
    )
    assert answer.status_code == 200, answer.text[:2000]
    text = answer.text
    assert "60 evaluations" in text
    rows = re.findall(r'state-(\w+)">', text.split('class="data transitions"')[1])
    # a breaches 39 minutes ago, fires two minutes later, resolves 19 minutes ago.
    assert rows == ["inactive", "pending", "pending", "firing", "firing", "resolved"]
    assert "host=a" in text.split('class="data firing"')[1]
    assert "18 min" in text  # fired from 37 to 19 minutes ago
    chart = json.loads(
        re.search(r'<script type="application/json" id="backtest-chart-data">(.*?)</script>', text)[
            1
        ]  # type: ignore[index]
    )
    [[start, end]] = chart["spans"]
    assert end - start == 18 * 60
    assert rule_count(site.database_url) == 0


async def test_a_backtest_longer_than_the_evaluations_allowed_is_shortened_and_says_so(
    site: Site,
) -> None:
    csrf = await site.sign_in("admin")
    answer = await site.http.post(
        NEW + "/backtest",
        data={"csrf_token": csrf, **rule_form(interval="5s")},  # 24 h at 5 s: 17,280
        headers={"Origin": SITE, "HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert "2,000 evaluations" in answer.text
    assert "The range was shortened to its last 2,000 evaluations" in answer.text


@pytest.mark.parametrize(
    ("span", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00"}, "to"),
        ({"from": "2026-01-02T00:00", "to": "2026-01-01T00:00"}, "to"),
    ],
)
async def test_a_bad_backtest_range_is_named(site: Site, span: dict[str, str], field: str) -> None:
    csrf = await site.sign_in("admin")
    answer = await site.http.post(
        NEW + "/backtest",
        data={"csrf_token": csrf, **rule_form(), **span},
        headers={"Origin": SITE, "HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert f"<code>{field}</code>" in answer.text


async def test_without_javascript_preview_and_backtest_answer_the_whole_page(site: Site) -> None:
    csrf = await site.sign_in("admin")
    metric = await site.samples()
    previewed = await site.post(NEW, {"csrf_token": csrf, "preview": "1", **rule_form(metric)})
    assert previewed.status_code == 200
    assert previewed.text.lstrip().lower().startswith("<!doctype")
    assert 'id="preview-chart-data"' in previewed.text
    assert 'value="api latency high"' in previewed.text  # the form as sent
    tested = await site.post(NEW, {"csrf_token": csrf, "backtest": "1", **rule_form(metric)})
    assert tested.status_code == 200
    assert 'id="preview-chart-data"' in tested.text and 'id="backtest-chart-data"' in tested.text
    assert "1,440 evaluations" in tested.text
    refused = await site.post(
        NEW, {"csrf_token": csrf, "backtest": "1", **rule_form(metric, threshold="x")}
    )
    assert refused.status_code == 200 and "Cannot be backtested yet" in refused.text
    assert rule_count(site.database_url) == 0


async def test_editing_previews_the_stored_rule_from_its_current_instances(site: Site) -> None:
    csrf = await site.sign_in("admin")
    metric = await site.samples()
    rule_id = await created(site, csrf, rule_form(metric, enabled=""))
    editor = await site.http.get(f"{RULES}/{rule_id}/edit")
    assert editor.status_code == 200
    assert 'id="preview-chart-data"' in editor.text
    live = await site.http.post(
        f"{RULES}/{rule_id}/edit/preview",
        data={
            "csrf_token": csrf,
            **rule_form(metric, window="5m", threshold="0.5", resolve_threshold=""),
        },
        headers={"Origin": SITE, "HX-Request": "true"},
    )
    assert live.status_code == 200
    # Above 0.5 now, with for 2m and no instance yet: pending.
    assert live.text.count('state-pending">') == 2


# The form's text fields read back to the rule.


@settings(max_examples=100)
@given(rule_documents())
def test_a_stored_rules_form_reads_back_to_the_same_rule(document: dict[str, Any]) -> None:
    # A browser sends every line break of a textarea as CRLF: a lone CR cannot come back.
    assume("\r" not in json.dumps(document, ensure_ascii=False).replace("\\r", "\r"))
    rule = parse_rule(document, check_template=template_problem)
    stored = rule_document(rule)
    # What a browser sends: a textarea's line breaks as CRLF.
    values = {name: value.replace("\n", "\r\n") for name, value in form_values(stored).items()}
    body, problems = rule_body(values)
    assert problems == []
    assert parse_rule(body, check_template=template_problem) == rule


@given(st.dictionaries(st.sampled_from(sorted(rule_form())), st.text(max_size=40)))
def test_any_form_gives_a_body_and_problems_never_an_exception(fields: dict[str, str]) -> None:
    body, problems = rule_body(rule_form(**fields))
    assert isinstance(body, dict) and all("field" in p for p in problems)


async def test_disabling_from_the_page_tells_open_pages_of_the_instances_it_closes(
    site: Site,
) -> None:
    csrf = await site.sign_in("admin")
    rule_id = await created(site, csrf, rule_form(name="closing", enabled="off"))
    first = add_instance(site.database_url, rule_id, host="a")
    second = add_instance(site.database_url, rule_id, host="b")
    with psycopg.connect(site.database_url) as connection:
        # Enabled behind the evaluator's back (its fingerprint is unchanged), so nothing
        # but the page's disable touches these instances.
        connection.execute("update alert_rules set enabled = true where id = %s", (rule_id,))
    async with connect(str(site.http.base_url).rstrip("/"), site.tokens["read"]) as ws:
        await subscribe(ws, "alerts")
        done = await site.post(
            f"{RULES}/{rule_id}/enabled", {"csrf_token": csrf, "version": "1", "enabled": "false"}
        )
        assert done.status_code == 303, done.text
        items: list[dict[str, Any]] = []
        with trio.fail_after(10):
            while len(items) < 2:
                items.extend((await receive(ws)).get("items", []))
    assert {(item["instance_id"], item["to"]) for item in items} == {
        (first, "resolved"),
        (second, "resolved"),
    }
    assert all(item["actor"] for item in items), "an operator's change, not the evaluator's"
