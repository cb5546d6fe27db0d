from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.keys import (
    ROLE_LABELS,
    Refusal,
    Role,
    granted_to,
    hash_secret,
    mint_key,
    parse_key,
    refusal_for,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_minted_key_parses_back_to_its_prefix_and_hash() -> None:
    minted = mint_key(secrets.choice)
    assert minted.token.startswith(f"mon_{minted.prefix}_")
    presented = parse_key(minted.token)
    assert presented is not None
    assert presented.prefix == minted.prefix
    assert presented.secret_sha256 == minted.secret_sha256
    assert minted.token.split("_")[2] not in minted.secret_sha256.hex()


def test_minted_keys_differ() -> None:
    assert len({mint_key(secrets.choice).token for _ in range(200)}) == 200


@given(st.text(max_size=80))
def test_arbitrary_text_is_never_mistaken_for_a_key(text: str) -> None:
    presented = parse_key(text)
    if presented is not None:  # only text shaped exactly like a key parses
        assert text.strip().startswith(f"mon_{presented.prefix}_")


# Key role -> the roles of the operations it may call (docs/roles.md), written out.
MATRIX = {
    Role.INGEST: {Role.INGEST},
    Role.READ: {Role.READ},
    Role.WRITE: {Role.INGEST, Role.READ, Role.WRITE},
    Role.ADMIN: {Role.INGEST, Role.READ, Role.WRITE, Role.ADMIN},
}


def test_each_key_role_may_exactly_what_the_matrix_says() -> None:
    for key_role, allowed in MATRIX.items():
        assert {required for required in Role if key_role.may(required)} == allowed, key_role
    for required in Role:
        holders = {key_role for key_role, allowed in MATRIX.items() if required in allowed}
        assert set(granted_to(required)) == holders, required


def test_roles_cannot_be_compared_as_a_ladder() -> None:
    # `read` may not ingest and `ingest` may not read: an ordering would lie.
    with pytest.raises(TypeError):
        assert Role.READ < Role.WRITE  # type: ignore[operator]


def test_roles_parse_from_their_labels() -> None:
    assert [Role.parse(label) for label in ROLE_LABELS] == list(Role)
    assert ROLE_LABELS == ("ingest", "read", "write", "admin")
    assert Role.parse(" Write ") is Role.WRITE
    assert Role.parse("INGEST\n") is Role.INGEST


@given(st.text(max_size=20))
def test_any_other_text_is_refused_naming_every_role(text: str) -> None:
    try:
        role = Role.parse(text)
    except ValueError as refused:
        assert text.strip().lower() not in ROLE_LABELS
        assert str(refused).startswith("role must be ingest, read, write or admin, got ")
    else:
        assert role.label == text.strip().lower()


def _refusal(token: str, stored: str, **kwargs: datetime | None) -> Refusal | None:
    presented = parse_key(token)
    assert presented is not None
    return refusal_for(
        presented=presented,
        stored_sha256=parse_key(stored).secret_sha256,  # type: ignore[union-attr]
        revoked_at=kwargs.get("revoked_at"),
        expires_at=kwargs.get("expires_at"),
        now=NOW,
    )


def test_refusals() -> None:
    key = mint_key(secrets.choice).token
    other = mint_key(secrets.choice).token
    assert _refusal(key, key) is None
    assert _refusal(key, other) is Refusal.WRONG_SECRET
    assert _refusal(key, key, revoked_at=NOW) is Refusal.REVOKED
    assert _refusal(key, key, expires_at=NOW) is Refusal.EXPIRED
    assert _refusal(key, key, expires_at=NOW + timedelta(seconds=1)) is None


def test_revoked_or_expired_is_revealed_only_to_the_real_secret() -> None:
    key = mint_key(secrets.choice).token
    other = mint_key(secrets.choice).token
    assert _refusal(other, key, revoked_at=NOW, expires_at=NOW) is Refusal.WRONG_SECRET


def test_hash_is_sha256_of_the_secret() -> None:
    assert hash_secret("abc").hex().startswith("ba7816bf")
