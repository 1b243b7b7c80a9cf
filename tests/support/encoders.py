"""Independent encoders for test data: Numbas links and SEB containers.

Written directly against ``cryptography``/``gzip``/``plistlib`` from the formats' sources
(numbas-lti-provider ``lockdown_app.encrypt``/``encrypt_seb_settings``, SEB for Windows
``PasswordEncryption``), sharing no code with ``lockdown.policy`` -- so a round trip tests
the decoder against the format, not against itself.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import plistlib
from collections.abc import Mapping
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt


@lru_cache(maxsize=64)  # scrypt costs ~16 MiB and tens of ms; tests reuse a few pairs
def numbas_key(password: str, salt: str) -> bytes:
    """The provider's ``make_key``: scrypt(n=16384, r=8, p=1), first 24 bytes."""
    return Scrypt(salt=salt.encode("utf-8"), length=24, n=16384, r=8, p=1).derive(
        password.encode("utf-8")
    )


def numbas_encrypt(plaintext: bytes, *, password: str, salt: str, iv: bytes | None = None) -> bytes:
    """AES-192-CBC with PKCS#7 padding; returns iv + ciphertext."""
    iv = iv if iv is not None else os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(numbas_key(password, salt)), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize()


def numbas_link(
    host: str,
    settings: Mapping[str, object] | str | bytes,
    *,
    password: str = "",
    salt: str = "",
    iv: bytes | None = None,
) -> str:
    """A ``numbas://`` link as the provider's ``make_link`` writes it."""
    if isinstance(settings, Mapping):
        plaintext = json.dumps(dict(settings)).encode("utf-8")
    elif isinstance(settings, str):
        plaintext = settings.encode("utf-8")
    else:
        plaintext = settings
    blob = numbas_encrypt(plaintext, password=password, salt=salt, iv=iv)
    return f"numbas://{host}/{blob.hex()}"


def _pbkdf2(password: str, salt: bytes) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA1(), length=32, salt=salt, iterations=10_000)
    return kdf.derive(password.encode("utf-8"))


def rncryptor_encrypt(
    plaintext: bytes, password: str, *, version: int = 2, options: int = 1
) -> bytes:
    """RNCryptor data as SEB writes it: header, salts, IV, AES-256-CBC data, HMAC-SHA256."""
    enc_salt, hmac_salt, iv = os.urandom(8), os.urandom(8), os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_pbkdf2(password, enc_salt)), modes.CBC(iv)).encryptor()
    body = bytes([version, options]) + enc_salt + hmac_salt + iv
    body += encryptor.update(padded) + encryptor.finalize()
    mac = hmac.HMAC(_pbkdf2(password, hmac_salt), hashes.SHA256())
    mac.update(body)
    return body + mac.finalize()


def plist_xml(settings: Mapping[str, object], *, sort_keys: bool = False) -> bytes:
    """An XML plist of ``settings`` (keys in insertion order unless ``sort_keys``)."""
    return plistlib.dumps(dict(settings), fmt=plistlib.FMT_XML, sort_keys=sort_keys)


#: Container kinds :func:`seb_container` can produce.
CONTAINERS = (
    "xml",
    "gzip",
    "plnd",
    "plnd+gzip",
    "gzip(plnd+gzip)",
    "pswd",
    "gzip(pswd+gzip)",
    "pwcc",
)


def seb_container(xml: bytes, kind: str, *, password: str = "") -> bytes:
    """Wrap plist XML in one of the ``.seb`` containers.

    ``gzip(pswd+gzip)`` is what the Numbas provider's ``encrypt_seb_settings`` and the SEB
    config tools write; ``pwcc`` encrypts with sha256_hex(password), as SEB does.
    """
    if kind == "xml":
        return xml
    if kind == "gzip":
        return gzip.compress(xml)
    if kind == "plnd":
        return b"plnd" + xml
    if kind == "plnd+gzip":
        return b"plnd" + gzip.compress(xml)
    if kind == "gzip(plnd+gzip)":
        return gzip.compress(b"plnd" + gzip.compress(xml))
    if kind == "pswd":
        return b"pswd" + rncryptor_encrypt(xml, password)
    if kind == "gzip(pswd+gzip)":
        return gzip.compress(b"pswd" + rncryptor_encrypt(gzip.compress(xml), password))
    if kind == "pwcc":
        hashed = hashlib.sha256(password.encode("utf-8")).hexdigest()
        return gzip.compress(b"pwcc" + rncryptor_encrypt(gzip.compress(xml), hashed))
    raise ValueError(f"unknown container kind {kind!r}")
