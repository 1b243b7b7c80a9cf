"""The HMAC key: OS keyring when there is one, otherwise a loudly-logged owner-only key file."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import PasswordSetError

from lockdown.journal.errors import KeyStoreError
from lockdown.journal.keys import KEY_FILE_NAME, SERVICE, load_key


class MemoryKeyring(KeyringBackend):
    """A working keyring backend kept in memory."""

    priority = 5

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring's base is untyped
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


def no_keyring() -> KeyringBackend:
    """keyring's "no backend" stand-in, as on a bare Linux CI machine."""
    backend: KeyringBackend = fail.Keyring()  # type: ignore[no-untyped-call]
    return backend


class BrokenKeyring(MemoryKeyring):
    """Looks usable, but refuses to store (a locked or misconfigured desktop keyring)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("the keyring is locked")


def test_keyring_path_creates_and_reuses_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = MemoryKeyring()
    with caplog.at_level(logging.WARNING, logger="lockdown.journal"):
        first = load_key(tmp_path, backend=backend, username="alice")
        again = load_key(tmp_path, backend=backend, username="alice")
    assert first.source == "keyring" and again.secret == first.secret and len(first.secret) == 32
    assert backend.store[(SERVICE, "alice")] == first.secret.hex()
    assert not (tmp_path / KEY_FILE_NAME).exists()
    assert caplog.records == []
    assert first.secret.hex() not in repr(first)
    other = load_key(tmp_path, backend=backend, username="bob")
    assert other.secret != first.secret  # one key per OS user


NULL_KEYRING: KeyringBackend = null.Keyring()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("backend", [no_keyring(), NULL_KEYRING, BrokenKeyring()])
def test_no_keyring_falls_back_to_a_key_file_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, backend: KeyringBackend
) -> None:
    with caplog.at_level(logging.WARNING, logger="lockdown.journal"):
        key = load_key(tmp_path, backend=backend, username="alice")
    path = tmp_path / KEY_FILE_NAME
    assert key.source == "file" and key.location == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key.secret.hex()
    warnings = [
        r for r in caplog.records if r.name == "lockdown.journal" and r.levelno == logging.WARNING
    ]
    assert warnings and str(path) in warnings[0].getMessage()
    assert "keyring" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lockdown.journal"):
        again = load_key(tmp_path, backend=backend, username="alice")
    assert again.secret == key.secret
    assert caplog.records, "every use of the fallback is logged, not just the first"


def test_key_file_moves_into_a_keyring_that_appears_later(tmp_path: Path) -> None:
    file_key = load_key(tmp_path, backend=no_keyring(), username="alice")
    backend = MemoryKeyring()
    moved = load_key(tmp_path, backend=backend, username="alice")
    assert moved.secret == file_key.secret and moved.source == "keyring"
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_missing_key_without_create_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="no journal key"):
        load_key(tmp_path, backend=MemoryKeyring(), username="alice", create=False)
    with pytest.raises(KeyStoreError, match="no journal key file"):
        load_key(tmp_path, backend=no_keyring(), username="alice", create=False)


def test_unsafe_key_files_are_refused_or_tightened(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text("zz-not-hex")
    with pytest.raises(KeyStoreError, match="not valid hex"):
        load_key(tmp_path, backend=no_keyring())
    path.write_text("00" * 32)
    path.chmod(0o644)
    load_key(tmp_path, backend=no_keyring())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(KeyStoreError, match="not a regular file"):
        load_key(tmp_path, backend=no_keyring())


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_key_file_of_another_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text("00" * 32)
    os.chown(path, 4242, 4242)
    with pytest.raises(KeyStoreError, match="another user"):
        load_key(tmp_path, backend=no_keyring())


def test_corrupt_keyring_value_is_an_error(tmp_path: Path) -> None:
    backend = MemoryKeyring()
    backend.set_password(SERVICE, "alice", "nonsense")
    with pytest.raises(KeyStoreError, match="not valid hex"):
        load_key(tmp_path, backend=backend, username="alice")
