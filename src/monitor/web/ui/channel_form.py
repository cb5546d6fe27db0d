"""The channel form as the API's channel document, a stored channel as the form, and the
API's problems back beside their fields.

One form holds every kind's inputs, each marked with the kinds that read it
(`FIELD_KINDS`); `channel_body` reads only the chosen kind's, so what the
page hides is never sent. Secrets are never put back into the form: an
empty secret input of a channel that has that secret stored becomes the
API's `{"set": true}` (keep it), text replaces it, and the optional email
password can be removed with its checkbox. Stored secret headers are listed
by name with a Keep checkbox; new ones are typed as `Name: value` lines, as
plain headers are. `parse_channel` then judges the document exactly as it
judges the API's, and `errors_by_field` puts each problem (`url`,
`headers.X-Team`, `to`, …) beside the input it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from werkzeug.datastructures import MultiDict

from monitor.domain.channels import CHANNEL_KINDS, EMAIL_SECURITY
from monitor.web.ui.dashboard_pages import whole

FormErrors = dict[str, list[str]]

KIND_LABELS = {
    "webhook": "Webhook",
    "slack": "Slack",
    "discord": "Discord",
    "email": "Email (SMTP)",
    "alertmanager": "Alertmanager",
    "pagerduty": "PagerDuty",
}
KIND_HINTS = {
    "webhook": "A signed JSON POST to a URL of yours.",
    "slack": "A Slack incoming webhook.",
    "discord": "A Discord channel webhook.",
    "email": "Mail through an SMTP server.",
    "alertmanager": "Alerts posted to a Prometheus Alertmanager.",
    "pagerduty": "Events to a PagerDuty service (Events API v2).",
}
# The form's inputs each kind reads. `secret_url` is the URL of slack and discord,
# a secret (their webhook URLs carry the token); `url` is the shown one.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "webhook": ("url", "secret", "headers", "secret_headers"),
    "slack": ("secret_url",),
    "discord": ("secret_url",),
    "email": ("host", "port", "security", "username", "password", "from", "to"),
    "alertmanager": ("url", "headers", "secret_headers"),
    "pagerduty": ("routing_key", "events_url"),
}
FIELD_KINDS = {
    name: [kind for kind in CHANNEL_KINDS if name in KIND_FIELDS[kind]]
    for name in sorted({name for names in KIND_FIELDS.values() for name in names})
}
# The form's secret inputs and the API's field for each.
SECRET_INPUTS = {
    "secret": "secret",
    "secret_url": "url",
    "password": "password",
    "routing_key": "routing_key",
}
TEXT_INPUTS = ("url", "host", "security", "username", "from", "events_url")
SECURITY_CHOICES = EMAIL_SECURITY
COMMON = ("name", "kind", "enabled", "description")


def chosen_kind(raw: str | None) -> str | None:
    return raw if raw in CHANNEL_KINDS else None


def _header_lines(text: str, field: str, problems: list[dict[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            problems.append({"field": field, "message": f"line {number} must be Name: value"})
            continue
        if name.strip() in headers:
            problems.append({"field": field, "message": f"{name.strip()} is given twice"})
            continue
        headers[name.strip()] = value.strip()
    return headers


def _addresses(text: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]


def channel_body(
    form: MultiDict[str, str], kind: str, stored_secrets: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The API's document for the form as a channel of `kind`, and the problems of the
    form's own reading (a header line without a colon). `stored_secrets` are the
    stored channel's secret names (`header:<name>` for secret headers), kept when
    their input is left empty."""
    problems: list[dict[str, str]] = []
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "kind": kind,
        "enabled": form.get("enabled") == "on",
        "description": form.get("description", ""),
    }
    used = KIND_FIELDS.get(kind, ())
    for name in TEXT_INPUTS:
        if name in used and form.get(name, "").strip():
            body[name] = form[name].strip()
    if "port" in used and form.get("port", "").strip():
        body["port"] = whole(form["port"])
    if "to" in used and _addresses(form.get("to", "")):
        body["to"] = _addresses(form["to"])
    for name, api_name in SECRET_INPUTS.items():
        if name not in used:
            continue
        typed = form.get(name, "")
        if typed:
            body[api_name] = typed
        elif api_name in stored_secrets and form.get(f"clear_{name}") != "on":
            body[api_name] = {"set": True}
    if "headers" in used:
        body["headers"] = _header_lines(form.get("headers", ""), "headers", problems)
    if "secret_headers" in used:
        kept = set(form.getlist("keep_header"))
        secret_headers: dict[str, Any] = {
            name.removeprefix("header:"): {"set": True}
            for name in stored_secrets
            if name.startswith("header:") and name.removeprefix("header:") in kept
        }
        secret_headers |= _header_lines(form.get("secret_headers", ""), "secret_headers", problems)
        body["secret_headers"] = secret_headers
    return body, problems


def form_values(document: Mapping[str, Any]) -> dict[str, str]:
    """A stored channel's shown document as the form's inputs; secrets stay empty."""
    values = {
        "name": str(document.get("name", "")),
        "description": str(document.get("description", "")),
        "enabled": "on" if document.get("enabled", True) else "",
    }
    for name in TEXT_INPUTS:
        found = document.get(name)
        if isinstance(found, str):
            values[name] = found
    if isinstance(document.get("port"), int):
        values["port"] = str(document["port"])
    if isinstance(document.get("to"), list):
        values["to"] = "\n".join(str(address) for address in document["to"])
    if isinstance(document.get("headers"), dict):
        values["headers"] = "\n".join(
            f"{name}: {value}" for name, value in document["headers"].items()
        )
    return values


def new_values() -> dict[str, str]:
    return {"name": "", "description": "", "enabled": "on", "security": "starttls"}


def shown_values(form: MultiDict[str, str]) -> dict[str, str]:
    """The form's inputs as typed, secrets left out (never echoed back)."""
    return {
        name: value
        for name, value in form.items()
        if name not in SECRET_INPUTS and name not in ("secret_headers", "keep_header")
    }


def _input_of(field: str, kind: str) -> str:
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    if head == "url" and kind in ("slack", "discord"):
        return "secret_url"
    if head in COMMON or head in KIND_FIELDS.get(kind, ()):
        return head
    return "form"


def errors_by_field(problems: Sequence[Mapping[str, Any]], kind: str) -> FormErrors:
    """Each problem beside its input (`headers.X-Team` beside the headers), the rest
    (`(body)`, a field of another kind) at the top."""
    shown: FormErrors = {}
    for problem in problems:
        field = str(problem.get("field", ""))
        message = str(problem.get("message", ""))
        where = _input_of(field, kind)
        if "." in field and where != "form":
            message = f"{field.split('.', 1)[1]}: {message}"
        elif where == "form" and field:
            message = f"{field}: {message}"
        shown.setdefault(where, []).append(message)
    return shown
