"""Quit password check (SEB's hashedQuitPassword: lowercase hex SHA-256 of the UTF-8 password).

``hashlib`` loads OpenSSL's libcrypto (~4 MiB) into the browser process, which otherwise never
needs it; it is imported only when a password is really checked.
"""

from __future__ import annotations


def hash_quit_password(password: str) -> str:
    import hashlib

    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def quit_password_ok(expected_sha256: str, entered: str) -> bool:
    """True if no password is configured or ``entered`` hashes to it (constant-time compare)."""
    if not expected_sha256:
        return True
    import hmac

    return hmac.compare_digest(hash_quit_password(entered), expected_sha256.lower())
