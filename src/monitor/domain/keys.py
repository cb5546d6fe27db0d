"""API key format, hashing and roles.

A key reads `mon_<prefix>_<secret>`. The prefix is public: it is stored in
clear, shown in listings and used to find the key's row. Only the SHA-256 of
the secret is stored, and it is compared in constant time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

PREFIX_LENGTH = 8
SECRET_LENGTH = 40  # ~238 bits from 62 symbols
_ALPHABET = string.ascii_letters + string.digits
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_KEY_PATTERN = re.compile(rf"mon_([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9]{{{SECRET_LENGTH}}})")


# Roles are not ordered: `read` may not send data and `ingest` may not read
# any, so "may this key call that operation" is `key_role.may(required)`. A
# plain Enum (not IntEnum or StrEnum) makes `<` between roles a TypeError
# instead of a silently wrong answer. Its docstring shows in the OpenAPI document.
class Role(enum.Enum):
    """What a key may do, and what an operation needs (docs/roles.md has the matrix)."""

    INGEST = "ingest"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value

    def may(self, required: Role) -> bool:
        """Whether a key with this role may call an operation that needs `required`."""
        return self in _GRANTED_TO[required]

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"role must be {spoken_list(ROLE_LABELS)}, got {text!r}") from None


# The role an operation declares -> the key roles that may call it. `write`
# holds everything `read` and `ingest` hold; `admin` holds everything.
_GRANTED_TO: Mapping[Role, frozenset[Role]] = MappingProxyType(
    {
        Role.INGEST: frozenset({Role.INGEST, Role.WRITE, Role.ADMIN}),
        Role.READ: frozenset({Role.READ, Role.WRITE, Role.ADMIN}),
        Role.WRITE: frozenset({Role.WRITE, Role.ADMIN}),
        Role.ADMIN: frozenset({Role.ADMIN}),
    }
)
ROLE_LABELS: tuple[str, ...] = tuple(role.label for role in Role)


def granted_to(required: Role) -> tuple[Role, ...]:
    """The key roles that may call an operation needing `required`, in declaration order."""
    return tuple(role for role in Role if role in _GRANTED_TO[required])


def spoken_list(words: Sequence[str], last_joint: str = "or") -> str:
    """`a`, `a or b`, `a, b or c` (or `and`): for messages that name roles."""
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} {last_joint} {words[-1]}"


@dataclass(frozen=True)
class NewKey:
    """A freshly minted key: `token` is shown once, the rest is what gets stored."""

    prefix: str
    token: str
    secret_sha256: bytes


@dataclass(frozen=True)
class PresentedKey:
    prefix: str
    secret_sha256: bytes


def mint_key(choice: Callable[[str], str]) -> NewKey:
    """A new key from `choice` (one character of the alphabet given; `secrets.choice`)."""
    prefix = "".join(choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = "".join(choice(_ALPHABET) for _ in range(SECRET_LENGTH))
    return NewKey(prefix=prefix, token=f"mon_{prefix}_{secret}", secret_sha256=hash_secret(secret))


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_key(token: str) -> PresentedKey | None:
    """Split a presented key into prefix and hashed secret; None when malformed."""
    match = _KEY_PATTERN.fullmatch(token.strip())
    if match is None:
        return None
    return PresentedKey(prefix=match[1], secret_sha256=hash_secret(match[2]))


def secret_matches(presented: PresentedKey, stored_sha256: bytes) -> bool:
    return hmac.compare_digest(presented.secret_sha256, stored_sha256)


class Refusal(enum.Enum):
    """Why a well-formed key with a known prefix is still refused."""

    WRONG_SECRET = "invalid API key"  # noqa: S105 - a message, not a password
    REVOKED = "API key has been revoked"
    EXPIRED = "API key has expired"


def refusal_for(
    *,
    presented: PresentedKey,
    stored_sha256: bytes,
    revoked_at: datetime | None,
    expires_at: datetime | None,
    now: datetime,
) -> Refusal | None:
    """The reason to refuse a key, or None when it authenticates.

    The secret is checked first so that revoked/expired is only ever revealed
    to someone holding the real key.
    """
    if not secret_matches(presented, stored_sha256):
        return Refusal.WRONG_SECRET
    if revoked_at is not None:
        return Refusal.REVOKED
    if expires_at is not None and expires_at <= now:
        return Refusal.EXPIRED
    return None
