"""Where the secret key comes from at start-up: the setting, else a file in the data directory.

MONITOR_SECRET_KEY wins. Without it, one instance keeps a generated key in
`<data-dir>/secret_key` (created on the first start, readable by its owner
only). Several instances sharing Redis must share one key too, and a file
per machine cannot give them that: then start-up stops and asks for the
setting. See docs/secrets.md.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.config import Settings
from monitor.config.parsers import optional_secret_key
from monitor.domain.signing import SecretKeys

FILE_NAME = "secret_key"
GENERATE_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class SecretKeyProblem(Exception):
    """The secret key cannot be had; the message (one line) says what to do."""


@dataclass(frozen=True)
class LoadedKeys:
    keys: SecretKeys
    created: Path | None  # the file written on this start, if one was


def load_secret_keys(
    settings: Settings, *, generate: Callable[[], str] = lambda: secrets.token_urlsafe(48)
) -> LoadedKeys:
    """The current key (setting, or the data directory's file) and the previous one.

    Raises SecretKeyProblem when no key can be used: Redis without the setting,
    or a key file that is readable by others or not a key.
    """
    created = None
    if settings.secret_key is not None:
        current = settings.secret_key
    elif settings.redis_url is not None:
        raise SecretKeyProblem(
            "MONITOR_SECRET_KEY must be set when REDIS_URL is: instances sharing Redis must "
            "share one secret key, and a key generated on each machine would differ. Set the "
            f"same MONITOR_SECRET_KEY on every instance (generate one with {GENERATE_HINT})"
        )
    else:
        current, created = read_or_create(settings.data_dir / FILE_NAME, generate)
    previous = settings.secret_key_previous
    return LoadedKeys(
        SecretKeys(
            current.encode(),
            () if previous is None or previous == current else (previous.encode(),),
        ),
        created,
    )


def read_or_create(path: Path, generate: Callable[[], str]) -> tuple[str, Path | None]:
    """The key in `path`, written there first from `generate()` if the file is missing.

    The new file appears whole or not at all (written aside, then linked into
    place), so a second process starting at the same moment either reads it
    or finds its own link refused and reads the winner's.
    """
    try:
        return read_key_file(path), None
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    created: Path | None = path
    try:
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(generate() + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            created = None  # another process won the race: its key is the key
    finally:
        draft.unlink(missing_ok=True)
    _sync_directory(path.parent)
    return read_key_file(path), created


def read_key_file(path: Path) -> str:
    """The key in `path`. Raises FileNotFoundError, or SecretKeyProblem when it is not
    a private file holding a key."""
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):
        raise SecretKeyProblem(f"the secret key file {path} is not a regular file")
    if os.name == "posix" and status.st_mode & 0o077:
        raise SecretKeyProblem(
            f"the secret key file {path} may be read by other users (mode "
            f"{stat.S_IMODE(status.st_mode):04o}); make it private with: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8")
        key = optional_secret_key(text)
    except (UnicodeDecodeError, ValueError) as problem:
        reason = "is not text" if isinstance(problem, UnicodeDecodeError) else str(problem)
        raise SecretKeyProblem(f"the secret key in {path} {reason}") from None
    if key is None:
        raise SecretKeyProblem(
            f"the secret key file {path} is empty; remove it to have a new key generated"
        )
    return key


def _sync_directory(directory: Path) -> None:
    """Make the new file's name durable: a key lost in a power cut would be a new key."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
