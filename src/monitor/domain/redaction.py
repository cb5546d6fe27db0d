"""Secrets taken out of values that are kept for people to read (the audit log).

Three kinds of secret are found, at any depth of dicts and lists:

- the value of a field whose name says it is secret (`password`, `token`,
  `secret`, `api_key`, `authorization`, `key`, ...): replaced whole, be it text,
  a number, a dict or a list. A null stays null ("not set" is worth seeing);
- credentials in URLs anywhere in text: the user-info part (`user:pass@`) and
  query or fragment parameters with a secret name (`?token=...`). Under a field
  whose name mentions a webhook, the path, query and fragment too: such URLs
  (Slack's, Discord's) are credentials themselves, so only scheme and host stay;
- this service's API keys (`mon_<prefix>_<secret>`) anywhere in text: the
  secret part (the prefix is public and tells which key it was).

Redacting twice changes nothing more than redacting once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from monitor.domain.keys import PREFIX_LENGTH

REDACTED = "[redacted]"
URL_MASK = "***"  # inside URLs: short, and needs no escaping

# Compared with the field's name lower-cased and stripped of everything but
# letters and digits, so `API-Key`, `api_key` and `apiKey` are one name.
_SECRET_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "accesskey",
    "signingkey",
    "credential",
    "authorization",
    "cookie",
)
_SECRET_NAMES = frozenset({"key", "pwd", "pass", "auth", "sig", "signature"})

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+")
_API_KEY = re.compile(rf"mon_([a-z0-9]{{{PREFIX_LENGTH}}})_[A-Za-z0-9]+")
_PARAMETER = re.compile(r"([^=&;]*)=([^&;]*)")


def _normalised(name: str) -> str:
    return "".join(character for character in name.lower() if character.isalnum())


def is_secret_name(name: str) -> bool:
    """Whether a field called `name` holds a secret."""
    normalised = _normalised(name)
    return normalised in _SECRET_NAMES or any(part in normalised for part in _SECRET_PARTS)


def _mentions_webhook(name: str) -> bool:
    return "webhook" in _normalised(name)


def _mask_parameters(text: str) -> str:
    """`a=1&token=x` → `a=1&token=***`: values of secret-named parameters masked."""

    def masked(match: re.Match[str]) -> str:
        name = match[1]
        return f"{name}={URL_MASK}" if is_secret_name(unquote_plus(name)) else match[0]

    return _PARAMETER.sub(masked, text)


def _mask_url(url: str, *, webhook: bool) -> str:
    scheme = url.split("://", 1)[0]
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: nothing in it can be trusted
        return f"{scheme}://{URL_MASK}"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{URL_MASK}@{netloc.rsplit('@', 1)[1]}"
    if webhook:
        path = f"/{URL_MASK}" if parts.path not in ("", "/") else parts.path
        query = URL_MASK if parts.query else ""
        fragment = URL_MASK if parts.fragment else ""
    else:
        path = parts.path
        query = _mask_parameters(parts.query)
        fragment = _mask_parameters(parts.fragment)
    masked = (netloc, path, query, fragment)
    if masked == (parts.netloc, parts.path, parts.query, parts.fragment):
        return url  # nothing secret: left exactly as written
    return urlunsplit((scheme, *masked))


def _redact_text(text: str, *, webhook: bool) -> str:
    if "mon_" in text:
        text = _API_KEY.sub(lambda match: f"mon_{match[1]}_{REDACTED}", text)
    if "://" in text:
        text = _URL.sub(lambda match: _mask_url(match[0], webhook=webhook), text)
    return text


def _redact(value: object, *, webhook: bool) -> object:
    if isinstance(value, Mapping):
        shown: dict[object, object] = {}
        for name, item in value.items():
            if not isinstance(name, str):
                shown[name] = _redact(item, webhook=webhook)
            elif is_secret_name(name) and item is not None:
                shown[_redact_text(name, webhook=False)] = REDACTED
            else:
                shown[_redact_text(name, webhook=False)] = _redact(
                    item, webhook=webhook or _mentions_webhook(name)
                )
        return shown
    if isinstance(value, list | tuple):
        return [_redact(item, webhook=webhook) for item in value]
    if isinstance(value, str):
        return _redact_text(value, webhook=webhook)
    return value


def redact_secrets(value: object) -> object:
    """`value` (JSON-like: dicts, lists, text, numbers...) with every secret replaced."""
    return _redact(value, webhook=False)
