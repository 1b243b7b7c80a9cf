"""Where the journal's HMAC key lives: the OS keyring, or -- loudly -- an owner-only key file.

The key authenticates every journal entry, so an entry edited on disk (a changed answer, a rewritten
save endpoint) is detected and quarantined instead of being sent with the student's cookies. It is
kept in the OS keyring (service ``lockdown-journal``, one secret per OS user) so that a copy of the
data folder alone cannot forge entries.

A bare Linux machine (CI, a kiosk without a desktop session) has no keyring backend: keyring's
``fail.Keyring``/``null.Keyring`` or an error. Then the key goes to ``journal.key`` (mode 0600) in
the data folder and a WARNING is logged on the ``lockdown.journal`` logger every time -- the
downgrade is never silent. A key file left from such a session is moved into the keyring once one
becomes available, so the journal keeps verifying.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lockdown.journal.errors import KeyStoreError

SERVICE = "lockdown-journal"
KEY_FILE_NAME = "journal.key"
KEY_BYTES = 32
log = logging.getLogger("lockdown.journal")


@dataclass(frozen=True)
class JournalKey:
    """The secret plus where it came from (shown by support tools, never the secret itself)."""

    secret: bytes
    source: Literal["keyring", "file"]
    location: str

    def __repr__(self) -> str:  # never leak the secret into logs or tracebacks
        return f"JournalKey(source={self.source!r}, location={self.location!r})"


def current_user() -> str:
    """The keyring account name: the OS user, or the uid when the name cannot be found."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # minimal containers have no passwd entry
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


def _usable(backend: Any) -> str | None:
    """None if ``backend`` can hold secrets, else why not (for the warning line)."""
    module = type(backend).__module__
    if module.endswith(("backends.fail", "backends.null")):
        return f"no keyring backend is available ({type(backend).__name__} from {module})"
    try:
        priority = float(backend.priority)
    except Exception as exc:
        return f"the keyring backend {type(backend).__name__} failed: {exc}"
    if priority <= 0:
        return f"the keyring backend {type(backend).__name__} is not usable (priority {priority})"
    return None


def _default_backend() -> Any:
    import keyring

    return keyring.get_keyring()


def load_key(
    data_dir: Path,
    *,
    backend: Any = None,
    username: str | None = None,
    create: bool = True,
) -> JournalKey:
    """Return the journal key for this OS user, creating it on first use when ``create``.

    ``backend`` is a keyring backend object (default: ``keyring.get_keyring()``); tests pass an
    in-memory one or ``keyring.backends.fail.Keyring()``. Raises :class:`KeyStoreError` when no key
    exists and ``create`` is false, or when the key file is unsafe or unreadable.
    """
    user = username or current_user()
    problem: str | None
    try:
        chosen = backend if backend is not None else _default_backend()
    except Exception as exc:  # keyring discovery can fail in odd environments
        chosen, problem = None, f"the OS keyring could not be loaded: {exc}"
    else:
        problem = _usable(chosen)
    key_file = data_dir / KEY_FILE_NAME
    if problem is None:
        try:
            return _from_keyring(chosen, user, key_file, create=create)
        except KeyStoreError:
            raise
        except Exception as exc:
            problem = f"the OS keyring ({type(chosen).__name__}) failed: {exc}"
    log.warning(
        "journal key: %s; using the key file %s (readable only by this OS user) instead of the"
        " OS keyring",
        problem,
        key_file,
        extra={"event": "journal.key_fallback", "fields": {"path": str(key_file)}},
    )
    return _from_file(key_file, create=create)


def _from_keyring(backend: Any, user: str, key_file: Path, *, create: bool) -> JournalKey:
    location = f"OS keyring {type(backend).__name__}, service {SERVICE!r}, user {user!r}"
    stored = backend.get_password(SERVICE, user)
    if stored is not None:
        return JournalKey(_decode(stored, location), "keyring", location)
    if key_file.exists():
        # A key created while no keyring existed: move it in so old entries still verify.
        secret = _from_file(key_file, create=False).secret
        _store(backend, user, secret, location)
        key_file.unlink()
        log.info(
            "journal key moved from %s into the OS keyring",
            key_file,
            extra={"event": "journal.key_migrated", "fields": {"path": str(key_file)}},
        )
        return JournalKey(secret, "keyring", location)
    if not create:
        raise KeyStoreError(f"There is no journal key in the {location}.")
    secret = secrets.token_bytes(KEY_BYTES)
    _store(backend, user, secret, location)
    return JournalKey(secret, "keyring", location)


def _store(backend: Any, user: str, secret: bytes, location: str) -> None:
    backend.set_password(SERVICE, user, secret.hex())
    if backend.get_password(SERVICE, user) != secret.hex():
        raise RuntimeError(f"the {location} did not keep the key it was given")


def _decode(text: str, location: str) -> bytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyStoreError(f"The journal key in the {location} is not valid hex.") from None
    if len(secret) < 16:
        raise KeyStoreError(f"The journal key in the {location} is too short.")
    return secret


def _from_file(path: Path, *, create: bool) -> JournalKey:
    location = str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise KeyStoreError(f"There is no journal key file at {path}.") from None
        return JournalKey(_create_file(path), "file", location)
    except OSError as exc:
        raise KeyStoreError(f"The journal key file {path} cannot be read: {exc}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyStoreError(f"The journal key file {path} is not a regular file; refusing it.")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise KeyStoreError(
            f"The journal key file {path} belongs to another user (uid {info.st_uid}); refusing it."
        )
    if info.st_mode & 0o077:
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
        log.warning(
            "journal key file %s was readable by other users; permissions tightened to 0600",
            path,
            extra={"event": "journal.key_permissions", "fields": {"path": str(path)}},
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyStoreError(f"The journal key file {path} cannot be read: {exc}.") from None
    return JournalKey(_decode(text, f"key file {path}"), "file", location)


def _create_file(path: Path) -> bytes:
    secret = secrets.token_bytes(KEY_BYTES)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise KeyStoreError(f"The journal key file {path} cannot be created: {exc}.") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return secret
