"""The secret key: given, or generated once into the data directory; and values signed with it."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import StartService
from monitor.config import Settings, load_settings
from monitor.domain.signing import SecretKeys, sign, verify
from monitor.secret_keys import SecretKeyProblem, load_secret_keys, read_or_create
from processes import clean_environment, run_monitor

KEY = "given-key-0123456789-0123456789-0123456789"
OLD_KEY = "older-key-0123456789-0123456789-0123456789"


def settings_in(data_dir: Path, **environ: str) -> Settings:
    return load_settings({"MONITOR_DATA_DIR": str(data_dir), **environ})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_start_generates_a_private_key_and_later_starts_reuse_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "new" / "data"  # not there yet
    first = load_secret_keys(settings_in(data_dir))
    key_file = data_dir / "secret_key"
    assert first.created == key_file
    assert mode(key_file) == 0o600
    assert len(first.keys.current) >= 48
    assert key_file.read_text().strip().encode() == first.keys.current
    again = load_secret_keys(settings_in(data_dir))
    assert again.created is None
    assert again.keys.current == first.keys.current
    assert list(data_dir.iterdir()) == [key_file]  # no draft left behind


def test_the_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_secret_keys(settings_in(tmp_path))
    finally:
        os.umask(previous)
    assert mode(tmp_path / "secret_key") == 0o600


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    candidates = iter([f"candidate-{n:02d}-" + "x" * 40 for n in range(16)])
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(
            pool.map(lambda _: read_or_create(path, lambda: next(candidates)), range(16))
        )
    assert len({key for key, _ in results}) == 1
    assert sum(created is not None for _, created in results) <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]


def test_a_given_key_wins_and_writes_no_file(tmp_path: Path) -> None:
    loaded = load_secret_keys(settings_in(tmp_path, MONITOR_SECRET_KEY=KEY))
    assert loaded.keys.current == KEY.encode()
    assert loaded.created is None
    assert not (tmp_path / "secret_key").exists()


def test_redis_without_a_key_stops_with_a_clear_message(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, REDIS_URL="redis://cache:6379/0")
    with pytest.raises(SecretKeyProblem) as raised:
        load_secret_keys(settings)
    message = str(raised.value)
    assert message.startswith("MONITOR_SECRET_KEY must be set when REDIS_URL is")
    assert "secrets.token_urlsafe" in message and "\n" not in message
    assert not (tmp_path / "secret_key").exists()
    with_key = settings_in(tmp_path, REDIS_URL="redis://cache:6379/0", MONITOR_SECRET_KEY=KEY)
    assert load_secret_keys(with_key).keys.current == KEY.encode()


def test_the_previous_key_is_a_verifier_not_a_signer(tmp_path: Path) -> None:
    loaded = load_secret_keys(
        settings_in(tmp_path, MONITOR_SECRET_KEY=KEY, MONITOR_SECRET_KEY_PREVIOUS=OLD_KEY)
    )
    assert loaded.keys.current == KEY.encode()
    assert loaded.keys.verifiers == (KEY.encode(), OLD_KEY.encode())
    # With the generated key too: rotating away from the file.
    from_file = load_secret_keys(settings_in(tmp_path, MONITOR_SECRET_KEY_PREVIOUS=OLD_KEY))
    assert from_file.keys.previous == (OLD_KEY.encode(),)
    same = load_secret_keys(
        settings_in(tmp_path, MONITOR_SECRET_KEY=KEY, MONITOR_SECRET_KEY_PREVIOUS=KEY)
    )
    assert same.keys.verifiers == (KEY.encode(),)


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text(KEY)
    path.chmod(0o644)
    with pytest.raises(
        SecretKeyProblem, match=r"may be read by other users \(mode 0644\)"
    ) as raised:
        load_secret_keys(settings_in(tmp_path))
    assert f"chmod 600 {path}" in str(raised.value)
    assert KEY not in str(raised.value)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"short", "must be 32 to 1024 characters, got 5"),
        (b"", "is empty"),
        (b"\n\n", "is empty"),
        (b"\xff\xfe" * 20, "is not text"),
        (b"a" * 20 + b" " + b"b" * 20, "without spaces"),
    ],
)
def test_a_key_file_that_holds_no_key_is_refused(
    tmp_path: Path, content: bytes, complaint: str
) -> None:
    path = tmp_path / "secret_key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(SecretKeyProblem, match=complaint) as raised:
        load_secret_keys(settings_in(tmp_path))
    assert str(path) in str(raised.value)


def test_a_directory_in_place_of_the_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret_key").mkdir()
    with pytest.raises(SecretKeyProblem, match="not a regular file"):
        load_secret_keys(settings_in(tmp_path))


async def test_the_service_generates_its_key_once(
    start_service: StartService, settings: Settings
) -> None:
    generated = settings.replace(secret_key=None)
    service = await start_service(generated)
    await service.shutdown()
    key_file = settings.data_dir / "secret_key"
    first = key_file.read_text()
    service = await start_service(generated)
    await service.shutdown()
    assert key_file.read_text() == first


async def test_serve_with_redis_and_no_key_exits_with_one_line(tmp_path: Path) -> None:
    env = clean_environment(
        REDIS_URL="redis://127.0.0.1:1/0", MONITOR_SECRET_KEY="", MONITOR_DATA_DIR=str(tmp_path)
    )
    result = await run_monitor("serve", "--port", "0", env=env)
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert lines[-1].startswith("monitor: MONITOR_SECRET_KEY must be set when REDIS_URL is"), lines
    assert not [line for line in lines if "Traceback" in line]
    assert not (tmp_path / "secret_key").exists()


# --- signing --------------------------------------------------------------------

CURRENT = SecretKeys(b"c" * 48)
ROTATED = SecretKeys(b"n" * 48, previous=(b"c" * 48,))


def test_a_signed_value_verifies_only_for_its_purpose_and_unchanged() -> None:
    signed = sign(CURRENT, "session", "user-7")
    assert signed.startswith("user-7.")
    assert verify(CURRENT, "session", signed) == "user-7"
    assert verify(CURRENT, "csrf", signed) is None
    assert verify(CURRENT, "session", signed.replace("user-7", "user-8")) is None
    assert verify(SecretKeys(b"x" * 48), "session", signed) is None


def test_after_a_rotation_old_signatures_verify_and_new_ones_use_the_new_key() -> None:
    old = sign(CURRENT, "session", "user-7")
    assert verify(ROTATED, "session", old) == "user-7"
    new = sign(ROTATED, "session", "user-7")
    assert new != old
    assert verify(SecretKeys(b"n" * 48), "session", new) == "user-7"
    assert verify(CURRENT, "session", new) is None  # the old key alone does not accept it


def test_secret_keys_never_show_in_their_repr() -> None:
    assert "ccc" not in repr(ROTATED) and "nnn" not in repr(ROTATED)


@given(st.text(), st.sampled_from(["session", "csrf"]))
def test_any_value_round_trips(value: str, purpose: str) -> None:
    assert verify(ROTATED, purpose, sign(ROTATED, purpose, value)) == value


@given(st.text())
def test_garbage_never_verifies_and_never_raises(signed: str) -> None:
    assert verify(ROTATED, "session", signed) is None
