"""Reading Safe Exam Browser ``.seb`` configuration files.

The container format, as SEB for Windows reads it (``SafeExamBrowser.Configuration``:
``BinaryParser``, ``XmlParser``, ``PasswordEncryption``, ``GZipCompressor``)::

    file     := gzip(block) | block | xml | gzip(xml)
    block    := "plnd" payload                   plain data
              | "pswd" rncryptor(payload)        encrypted with the settings password
              | "pwcc" rncryptor(payload)        same, password = sha256_hex(password)
              | "pkhs" | "phsk" ...              encrypted for a certificate (unsupported)
    payload  := gzip(xml) | xml

``rncryptor`` is the RNCryptor data format SEB uses (header version 2; 3 is accepted too,
the layout is identical): ``version(1) options(1) encryption_salt(8) hmac_salt(8) iv(16)
ciphertext hmac(32)``; keys are PBKDF2-HMAC-SHA1(password, salt, 10,000 rounds, 32 bytes),
the cipher AES-256-CBC with PKCS#7 padding and the HMAC is HMAC-SHA256 over everything
before it. The Numbas LTI provider writes exactly this (``encrypt_seb_settings``):
``gzip("pswd" + rncryptor(gzip(xml)))``.

Sizes are bounded at every step (input and each decompression) so a hostile file cannot
exhaust memory.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from dataclasses import dataclass, field

from lockdown.policy.aes import aes_cbc_decrypt
from lockdown.policy.seb.config_key import config_key
from lockdown.policy.seb.errors import (
    SebFormatError,
    SebPasswordRequired,
    SebTooLarge,
    SebUnsupported,
    SebWrongPassword,
)
from lockdown.policy.seb.plistxml import parse_plist_xml

#: Largest ``.seb`` file we accept (Moodle's are ~15 kB; embedded resources can reach MBs).
MAX_SEB_BYTES = 10 * 1024 * 1024
#: Largest result of any single decompression step.
MAX_DECOMPRESSED_BYTES = 32 * 1024 * 1024

GZIP_MAGIC = b"\x1f\x8b\x08"
PREFIX_PLAIN = b"plnd"
PREFIX_PASSWORD = b"pswd"
PREFIX_PASSWORD_CONFIGURE_CLIENT = b"pwcc"
PREFIX_PUBLIC_KEY = b"pkhs"
PREFIX_PUBLIC_KEY_SYMMETRIC = b"phsk"

RNCRYPTOR_VERSIONS = frozenset({2, 3})
RNCRYPTOR_OPTIONS = 1
PBKDF2_ROUNDS = 10_000
_SALT = 8
_IV = 16
_HMAC = 32
_HEADER = 2
_MIN_RNCRYPTOR = _HEADER + 2 * _SALT + _IV + 16 + _HMAC


@dataclass(frozen=True)
class SebFile:
    """A decoded ``.seb`` file.

    ``settings`` is the root ``<dict>`` exactly as in the file (unknown keys included: they
    take part in the Config Key). ``layers`` lists the containers peeled off, outermost
    first, e.g. ``("gzip", "pswd", "gzip", "xml")``.
    """

    settings: dict[str, object] = field(repr=False)
    layers: tuple[str, ...]

    @property
    def config_key(self) -> str:
        """The SEB Config Key (64 lowercase hex digits) of these settings."""
        return config_key(self.settings)


def _is_gzip(data: bytes) -> bool:
    # SEB's GZipCompressor also insists on more than header + footer (18 bytes).
    return data.startswith(GZIP_MAGIC) and len(data) > 18


def _gunzip(data: bytes) -> bytes:
    """Decompress one gzip member, refusing truncated data and oversized output."""
    decompressor = zlib.decompressobj(wbits=31)
    try:
        out = decompressor.decompress(data, MAX_DECOMPRESSED_BYTES)
    except zlib.error as exc:
        raise SebFormatError(f"the gzip-compressed data is corrupt ({exc})") from None
    if decompressor.unconsumed_tail:
        raise SebTooLarge(
            f"the configuration decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"
        )
    if not decompressor.eof:
        raise SebFormatError("the gzip-compressed data is truncated")
    return out


def _pbkdf2(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), salt, PBKDF2_ROUNDS, 32)


def decrypt_rncryptor(blob: bytes, password: str) -> bytes:
    """Authenticate and decrypt an RNCryptor (v2/v3) blob as SEB writes it."""
    if len(blob) < _MIN_RNCRYPTOR:
        raise SebFormatError(
            f"the encrypted block is too short ({len(blob)} bytes) to be RNCryptor data"
        )
    version, options = blob[0], blob[1]
    if version not in RNCRYPTOR_VERSIONS or options != RNCRYPTOR_OPTIONS:
        raise SebFormatError(
            f"unknown encryption header (version {version}, options {options}); "
            "expected RNCryptor version 2 or 3 with options 1"
        )
    enc_salt = blob[_HEADER : _HEADER + _SALT]
    hmac_salt = blob[_HEADER + _SALT : _HEADER + 2 * _SALT]
    iv = blob[_HEADER + 2 * _SALT : _HEADER + 2 * _SALT + _IV]
    ciphertext = blob[_HEADER + 2 * _SALT + _IV : -_HMAC]
    tag = blob[-_HMAC:]
    if len(ciphertext) % 16:
        raise SebFormatError("the encrypted block's length is not a whole number of AES blocks")
    expected = hmac.new(_pbkdf2(password, hmac_salt), blob[:-_HMAC], hashlib.sha256).digest()
    if not hmac.compare_digest(expected, tag):
        raise SebWrongPassword(
            "wrong password for this configuration file (or the file is corrupted)"
        )
    try:
        return aes_cbc_decrypt(_pbkdf2(password, enc_salt), iv, ciphertext)
    except ValueError:
        # The HMAC matched, so the password is right: the writer produced bad padding.
        raise SebFormatError("the decrypted configuration has invalid padding") from None


def _strip_xml_start(data: bytes) -> bytes | None:
    """``data`` without a UTF-8 BOM and leading whitespace if it then starts like XML.

    Leading whitespace is not valid before an XML declaration, but a stray newline before
    the document is a classic server-side bug (PHP output before ``<?xml``) worth forgiving.
    """
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while start < len(data) and data[start] in b" \t\r\n":
        start += 1
    body = data[start:]
    return body if body.startswith((b"<?xml", b"<?XML", b"<!DOCTYPE", b"<plist")) else None


def _describe_start(data: bytes) -> str:
    head = data[:8]
    printable = all(32 <= b < 127 for b in head)
    return repr(head.decode("ascii")) if printable else head.hex()


def _plain_payload(data: bytes, layers: list[str]) -> dict[str, object]:
    """Parse a payload that is XML, possibly wrapped in up to two gzip layers."""
    for _ in range(2):
        if not _is_gzip(data):
            break
        data = _gunzip(data)
        layers.append("gzip")
    xml = _strip_xml_start(data)
    if xml is None:
        raise SebFormatError(
            f"expected the configuration's XML but the data starts with {_describe_start(data)}"
        )
    layers.append("xml")
    return parse_plist_xml(xml)


def _decrypt_password_block(prefix: bytes, blob: bytes, password: str | None) -> bytes:
    if password is None:
        raise SebPasswordRequired(
            "this configuration file is encrypted with a settings password; "
            "a password is needed to open it"
        )
    if prefix == PREFIX_PASSWORD:
        return decrypt_rncryptor(blob, password)
    # "pwcc" (configure client): SEB encrypts with the SHA-256 hex of the admin password.
    hashed = hashlib.sha256(password.encode("utf-8")).hexdigest()
    try:
        return decrypt_rncryptor(blob, hashed)
    except SebWrongPassword:
        if len(password) == 64 and all(c in "0123456789abcdefABCDEF" for c in password):
            return decrypt_rncryptor(blob, password)  # the caller passed the hash itself
        raise


def load_seb(data: bytes, *, password: str | None = None) -> SebFile:
    """Decode a ``.seb`` file (any supported container) into its settings dictionary.

    Raises :class:`SebPasswordRequired` for an encrypted file when ``password`` is None,
    :class:`SebWrongPassword` when the password does not authenticate it,
    :class:`SebUnsupported` for certificate-encrypted files, :class:`SebTooLarge` and
    :class:`SebFormatError` for anything malformed.
    """
    if len(data) > MAX_SEB_BYTES:
        raise SebTooLarge(
            f"the configuration file is {len(data)} bytes; the limit is {MAX_SEB_BYTES} bytes"
        )
    if not data:
        raise SebFormatError("the configuration file is empty")
    layers: list[str] = []
    if _is_gzip(data):
        data = _gunzip(data)
        layers.append("gzip")
    prefix = data[:4]
    if prefix in (PREFIX_PASSWORD, PREFIX_PASSWORD_CONFIGURE_CLIENT):
        layers.append(prefix.decode("ascii"))
        decrypted = _decrypt_password_block(prefix, data[4:], password)
        return SebFile(_plain_payload(decrypted, layers), tuple(layers))
    if prefix == PREFIX_PLAIN:
        layers.append("plnd")
        return SebFile(_plain_payload(data[4:], layers), tuple(layers))
    if prefix in (PREFIX_PUBLIC_KEY, PREFIX_PUBLIC_KEY_SYMMETRIC):
        raise SebUnsupported(
            f"this configuration file is encrypted for an identity certificate "
            f"('{prefix.decode('ascii')}'), which lockdown does not support; "
            "ask for a copy saved with a settings password or unencrypted"
        )
    if len(data) <= 4:
        raise SebFormatError(f"the configuration file is too short ({len(data)} bytes)")
    xml = _strip_xml_start(data)
    if xml is None:
        raise SebFormatError(
            f"not a SEB configuration file: it starts with {_describe_start(data)}, "
            "not XML or a known SEB block prefix (plnd, pswd, pwcc, pkhs, phsk)"
        )
    layers.append("xml")
    return SebFile(parse_plist_xml(xml), tuple(layers))
