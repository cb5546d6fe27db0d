"""The secret keys, and values signed with them (HMAC-SHA256, standard library only).

`SecretKeys` holds the current key and the ones it replaced: new signatures
use the current key, and a signature made with any of them is accepted, so a
key can be rotated without logging everyone out at once.

Each use of the keys names a `purpose` (e.g. "session"): the key actually used
is derived from the secret and the purpose, so a value signed for one purpose
is never accepted for another, and later uses (encrypting stored secrets) get
keys independent of the signing ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True, repr=False)
class SecretKeys:
    current: bytes
    previous: tuple[bytes, ...] = ()

    @property
    def verifiers(self) -> tuple[bytes, ...]:
        """Every key a signature may have been made with, the current one first."""
        return (self.current, *self.previous)

    def __repr__(self) -> str:  # never the keys themselves
        return f"SecretKeys(current=***, previous={len(self.previous)})"


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose: HMAC-SHA256 of the purpose under the secret."""
    return hmac.new(secret, b"monitor/" + purpose.encode(), hashlib.sha256).digest()


def sign(keys: SecretKeys, purpose: str, value: str) -> str:
    """`value.<signature>`, the signature URL-safe base64 without padding."""
    return f"{value}.{_signature(keys.current, purpose, value)}"


def verify(keys: SecretKeys, purpose: str, signed: str) -> str | None:
    """The value `sign` was given, if `signed` carries a signature of it made with one
    of the keys for this purpose; else None."""
    value, dot, signature = signed.rpartition(".")
    if not dot or not signature.isascii():
        return None
    matches = [
        hmac.compare_digest(_signature(key, purpose, value), signature) for key in keys.verifiers
    ]  # every key is tried, so timing does not tell which one matched
    return value if any(matches) else None


def mac(keys: SecretKeys, purpose: str, value: str) -> str:
    """The signature alone, for a token that must not reveal `value` (a CSRF token
    derived from a session's secret)."""
    return _signature(keys.current, purpose, value)


def mac_matches(keys: SecretKeys, purpose: str, value: str, candidate: str) -> bool:
    """Whether `candidate` is `mac(value)` under one of the keys for this purpose."""
    if not candidate.isascii():
        return False
    matches = [
        hmac.compare_digest(_signature(key, purpose, value), candidate) for key in keys.verifiers
    ]
    return any(matches)


def _signature(secret: bytes, purpose: str, value: str) -> str:
    # surrogatepass: any str can be signed, even one no encoder would accept.
    message = value.encode("utf-8", "surrogatepass")
    digest = hmac.new(derive_key(secret, purpose), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
