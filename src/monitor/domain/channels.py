"""Notification channels as the API accepts them: each kind's fields, secrets apart.

`parse_channel` reads a decoded JSON object strictly (no coercion, unknown
fields refused, per-field problems by dotted path, as domain/alert_rules.py
does) into a `ChannelDraft`: the name, kind and enabled flag, the
`settings` that may be shown (canonical JSON, defaults written out), and
the `secrets`, which are never shown.

A secret field takes the new value as text, or `{"set": true}` (what the
API shows for a stored secret) to keep the stored one; left out, it is not
set. `complete_secrets` merges a draft's secrets with the stored ones and
names each required secret that is missing, or kept but unreadable.

Secrets by kind: webhook `secret` (the HMAC key) and `secret_headers`;
slack and discord `url` (their webhook URLs carry the token); email
`password`; alertmanager `secret_headers`; pagerduty `routing_key`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from monitor.domain.json_documents import JsonLimits, json_problems
from monitor.domain.rule_fields import (
    Fields,
    RuleProblem,
    RuleProblems,
    boolean,
    json_object,
    one_of,
    shown,
    text,
)

ChannelKind = Literal["webhook", "slack", "discord", "email", "alertmanager", "pagerduty"]
CHANNEL_KINDS: tuple[ChannelKind, ...] = (
    "webhook",
    "slack",
    "discord",
    "email",
    "alertmanager",
    "pagerduty",
)
EmailSecurity = Literal["tls", "starttls", "none"]
EMAIL_SECURITY: tuple[EmailSecurity, ...] = ("tls", "starttls", "none")
DEFAULT_SMTP_PORT: dict[str, int] = {"tls": 465, "starttls": 587, "none": 25}
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

MAX_CHANNEL_NAME = 200
MAX_DESCRIPTION = 2000
MAX_URL = 2000
MAX_HEADERS = 20
MAX_HEADER_VALUE = 2000
MAX_SECRET = 1000
MIN_HMAC_SECRET = 16
MAX_RECIPIENTS = 50
MAX_ADDRESS = 254
MAX_CHANNEL_BYTES = 64 * 1024
# Headers a channel may not set: the request's framing, and what the service signs.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "idempotency-key",
        "user-agent",
    }
)
RESERVED_PREFIX = "x-monitor-"
_DOCUMENT_LIMITS = JsonLimits(max_bytes=MAX_CHANNEL_BYTES, max_depth=4)
HEADER_NAME = re.compile(r"^[0-9A-Za-z-]{1,100}$")
# One address, as SMTP takes it: no display name, no spaces or angle brackets.
ADDRESS = re.compile(r"^[^\s@<>(),;:\"\[\]\\]+@[^\s@<>(),;:\"\[\]\\]+\.[^\s@<>(),;:\"\[\]\\]+$")
HOST = re.compile(r"^[A-Za-z0-9.:\-\[\]]{1,253}$")


class Keep:
    """`{"set": true}` in a request: keep the stored secret."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = Keep()
SecretValue = str | Keep
SET = {"set": True}


@dataclass(frozen=True)
class ChannelDraft:
    name: str
    kind: ChannelKind
    enabled: bool
    settings: dict[str, Any]  # what may be shown: canonical, defaults written out
    # `secret_headers` flattened as `header:<name>`; never in a repr (logs, tracebacks).
    secrets: dict[str, SecretValue] = field(repr=False)


HEADER_KINDS = ("webhook", "alertmanager")
REQUIRED_SECRETS: dict[str, tuple[str, ...]] = {
    "webhook": ("secret",),
    "slack": ("url",),
    "discord": ("url",),
    "email": (),
    "alertmanager": (),
    "pagerduty": ("routing_key",),
}


def http_url(value: object) -> str:
    raw = text(1, MAX_URL)(value)
    if any(character.isspace() or not character.isprintable() for character in raw):
        raise ValueError("must be a URL without spaces or control characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as problem:
        raise ValueError(f"must be a URL: {problem}") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if port == 0:
        raise ValueError("must not name port 0")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    return raw


def public_url(value: object) -> str:
    """A URL that is shown: one carrying a user name or password would show it."""
    raw = http_url(value)
    if "@" in urlsplit(raw).netloc:
        raise ValueError(
            "must not carry a user name or password (use secret_headers for credentials)"
        )
    return raw


def _secret_text(low: int) -> Callable[[object], SecretValue]:
    def read(value: object) -> SecretValue:
        if isinstance(value, dict):
            if value == SET:
                return KEEP
            raise ValueError('must be text, or {"set": true} to keep the stored value')
        return text(low, MAX_SECRET)(value)

    return read


def _secret_url(value: object) -> SecretValue:
    if isinstance(value, dict):
        return _secret_text(1)(value)
    return http_url(value)


def header_name(value: str) -> str:
    if not HEADER_NAME.match(value):
        raise ValueError("must be a header name (letters, digits and -, 1 to 100)")
    lowered = value.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIX):
        raise ValueError("is set by the service and may not be given")
    return value


def header_value(value: object) -> str:
    raw = text(0, MAX_HEADER_VALUE)(value)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw if c != "\t") or not raw.isascii():
        raise ValueError("must be printable ASCII without line breaks")
    return raw


def _headers(fields: Fields, key: str, read_value: Callable[[object], Any]) -> dict[str, Any]:
    empty: Mapping[str, object] = {}
    raw = fields.get(key, json_object, empty)
    if len(raw) > MAX_HEADERS:
        fields.problem(key, f"must have at most {MAX_HEADERS} headers")
        return {}
    headers: dict[str, Any] = {}
    seen: set[str] = set()
    for name, value in raw.items():
        try:
            header_name(name)
            if name.lower() in seen:
                raise ValueError("is given twice (header names ignore case)")
            seen.add(name.lower())
            headers[name] = read_value(value)
        except ValueError as refused:
            fields.problems.append(RuleProblem(f"{fields.name(key)}.{shown(name)}", str(refused)))
    return dict(sorted(headers.items()))


def _address(value: object) -> str:
    raw = text(3, MAX_ADDRESS)(value)
    if not ADDRESS.match(raw) or not raw.isascii():
        raise ValueError("must be an email address like ops@example.com (no display name)")
    return raw


def _addresses(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("must be a list of email addresses")
    if not 1 <= len(value) <= MAX_RECIPIENTS:
        raise ValueError(f"must have 1 to {MAX_RECIPIENTS} addresses")
    found: list[str] = []
    for index, item in enumerate(value):
        try:
            address = _address(item)
        except ValueError as refused:
            raise ValueError(f"item {index} {refused}") from None
        if address.lower() in (other.lower() for other in found):
            raise ValueError(f"item {index} repeats {address}")
        found.append(address)
    return found


def _smtp_host(value: object) -> str:
    raw = text(1, 253)(value)
    if not HOST.match(raw):
        raise ValueError("must be a host name or address")
    return raw


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError("must be a whole number from 1 to 65535")
    return value


def _read_kind(fields: Fields, kind: ChannelKind) -> tuple[dict[str, Any], dict[str, SecretValue]]:
    settings: dict[str, Any] = {}
    secrets: dict[str, SecretValue | None] = {}
    if kind == "webhook":
        settings["url"] = fields.required("url", public_url, "")
        secrets["secret"] = fields.get("secret", _secret_text(MIN_HMAC_SECRET), None)
    elif kind in ("slack", "discord"):
        secrets["url"] = fields.get("url", _secret_url, None)
    elif kind == "email":
        security = fields.get("security", one_of(EMAIL_SECURITY), "starttls")
        settings["host"] = fields.required("host", _smtp_host, "")
        settings["port"] = fields.get("port", _port, DEFAULT_SMTP_PORT[security])
        settings["security"] = security
        settings["username"] = fields.get("username", text(0, 200), "")
        settings["from"] = fields.required("from", _address, "")
        no_one: list[str] = []
        settings["to"] = fields.required("to", _addresses, no_one)
        secrets["password"] = fields.get("password", _secret_text(1), None)
        if settings["username"] and secrets["password"] is None:
            fields.problem("password", "is required with a username")
        if secrets["password"] is not None and not settings["username"]:
            fields.problem("username", "is required with a password")
    elif kind == "alertmanager":
        settings["url"] = fields.required("url", public_url, "")
    else:  # pagerduty
        settings["events_url"] = fields.get("events_url", public_url, PAGERDUTY_EVENTS_URL)
        secrets["routing_key"] = fields.get("routing_key", _secret_text(1), None)
    if kind in HEADER_KINDS:
        settings["headers"] = _headers(fields, "headers", header_value)
        secret_headers = _headers(fields, "secret_headers", _secret_header)
        clash = {name.lower() for name in settings["headers"]} & {
            name.lower() for name in secret_headers
        }
        for name in sorted(clash):
            fields.problem("secret_headers", f"{shown(name)} is also in headers")
        for name, value in secret_headers.items():
            secrets[f"header:{name}"] = value
    for key in REQUIRED_SECRETS[kind]:
        if not fields.has(key):
            fields.problem(key, "is required")
    return settings, {key: value for key, value in secrets.items() if value is not None}


def _secret_header(value: object) -> SecretValue:
    if isinstance(value, dict):
        return _secret_text(1)(value)
    return header_value(value)


def parse_channel(raw: object) -> ChannelDraft:
    """The channel `raw` describes, or RuleProblems naming every bad field."""
    problems: list[RuleProblem] = []
    if not isinstance(raw, dict):
        raise RuleProblems([RuleProblem("(body)", "must be a JSON object")])
    structural = json_problems(raw, _DOCUMENT_LIMITS, "")
    if structural:
        raise RuleProblems([RuleProblem(path or "(body)", message) for path, message in structural])
    fields = Fields(raw, "", problems)
    name = fields.required("name", text(1, MAX_CHANNEL_NAME, printable=True), "")
    default_kind: ChannelKind = "webhook"
    kind = fields.required("kind", one_of(CHANNEL_KINDS), default_kind)
    enabled = fields.get("enabled", boolean, True)
    description = fields.get("description", text(0, MAX_DESCRIPTION), "")
    # Alertmanager's receiver option: false leaves resolved alerts out of this channel's messages.
    send_resolved = fields.get("send_resolved", boolean, True)
    if any(problem.field == "kind" for problem in problems):
        raise RuleProblems(problems)
    settings, secrets = _read_kind(fields, kind)
    fields.refuse_unknown(f"{kind} channels")
    if problems:
        raise RuleProblems(problems)
    return ChannelDraft(
        name,
        kind,
        enabled,
        {"description": description, "send_resolved": send_resolved, **settings},
        secrets,
    )


def complete_secrets(
    draft: ChannelDraft, stored: Mapping[str, str] | None, *, stored_unreadable: bool = False
) -> dict[str, str]:
    """The draft's secrets with each `{"set": true}` replaced by the stored value.

    `stored` is None when nothing is stored (a new channel). Raises RuleProblems
    naming a kept secret that is not stored, or stored but unreadable.
    """
    problems: list[RuleProblem] = []
    complete: dict[str, str] = {}
    for key, value in draft.secrets.items():
        field = (
            f"secret_headers.{key.removeprefix('header:')}" if key.startswith("header:") else key
        )
        if isinstance(value, str):
            complete[key] = value
        elif stored_unreadable:
            problems.append(
                RuleProblem(
                    field, "the stored value cannot be read (MONITOR_SECRET_KEY changed): send it"
                )
            )
        elif stored is None or key not in stored:
            problems.append(RuleProblem(field, '{"set": true} keeps a stored value; none is'))
        else:
            complete[key] = stored[key]
    if problems:
        raise RuleProblems(problems)
    return complete
