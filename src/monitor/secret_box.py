"""Secrets kept in the database (notification channels' tokens, passwords, URLs),
encrypted with a key derived from MONITOR_SECRET_KEY.

Fernet (AES-128-CBC with HMAC-SHA256, from the `cryptography` package) under
a key derived by HKDF-SHA256 from the secret key and the name of this use,
so it shares nothing with the signing keys (domain/signing.py). New values
are sealed with the current key; a value sealed with the current key or the
previous one (MONITOR_SECRET_KEY_PREVIOUS) opens, so a key rotation does not
lose the secrets stored before it (they are sealed again with the new key
when the channel is next saved).

A value that opens with none of the keys (the key changed without the old
one given as previous, or the row was damaged) raises `SecretUnreadable`;
callers show "secret unreadable" and never the value.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from monitor.domain.signing import SecretKeys

PURPOSE = b"monitor/stored-secrets/v1"
UNREADABLE = (
    "secret unreadable: it was stored under another MONITOR_SECRET_KEY; "
    "enter the channel's secrets again (or set the old key as MONITOR_SECRET_KEY_PREVIOUS)"
)


class SecretUnreadable(Exception):
    """A sealed value opens with none of the keys."""

    def __init__(self) -> None:
        super().__init__(UNREADABLE)


def _fernet(secret: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    def __init__(self, keys: SecretKeys) -> None:
        self._fernet = MultiFernet([_fernet(key) for key in keys.verifiers])

    def __repr__(self) -> str:  # never the keys
        return "SecretBox(***)"

    def seal(self, values: dict[str, Any]) -> str:
        """`values` (a JSON object) as one token."""
        plain = json.dumps(values, separators=(",", ":"), sort_keys=True).encode()
        return self._fernet.encrypt(plain).decode("ascii")

    def open(self, token: str) -> dict[str, Any]:
        """What `seal` was given; SecretUnreadable if no key opens it."""
        try:
            plain = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SecretUnreadable from None
        opened = json.loads(plain)
        if not isinstance(opened, dict):
            raise SecretUnreadable
        return opened
