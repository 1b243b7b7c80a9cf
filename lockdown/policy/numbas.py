"""Numbas LTI provider lockdown links (``numbas://``) and the provider's user-agent check.

What the provider does (numbas-lti-provider ``numbas_lti/lockdown_app.py``): it encrypts
``json.dumps({"url": <launch URL>, "token": <signed token>})`` with AES-192-CBC (PKCS#7
padding, random 16-byte IV) under ``scrypt(password, salt, n=16384, r=8, p=1)[:24]`` and
links to ``numbas://<host>/<hex(iv + ciphertext)>``. The salt is a per-installation setting
(provider ``LOCKDOWN_APP['salt']``, Numbas app ``CRYPT_SALT``, empty by default).

What the Numbas lockdown app does (numbas-lockdown-app ``src/main.js``,
``src/decrypt_settings.js``): splits the path into 32 hex digits of IV and the ciphertext,
tries an empty password, then a saved one, then asks; opens ``settings.url``; sends
``Authorization: Basic <token>`` (the raw token, not base64) with every http/https/ws/wss
request to the launch URL's host; and sets its whole user agent to
``Numbas lockdown (Version: <app version>) (Platform: <process.platform>)``. The provider
reads ``(Name: value)`` pairs with the lazy pattern ``\\((.*?): (.*?)\\)`` -- which starts at
the first ``(`` of the string, so any other parenthesised text before them breaks the parse.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import sys
import urllib.parse
from dataclasses import dataclass, field

from lockdown.policy.aes import aes_cbc_decrypt

SCHEME = "numbas"
SCRYPT_N = 16384
SCRYPT_R = 8
SCRYPT_P = 1
KEY_BYTES = 24  # AES-192
IV_BYTES = 16
MAX_LINK_LENGTH = 16384
MAX_TOKEN_LENGTH = 4096
USER_AGENT_PRODUCT = "Numbas lockdown"

#: The provider's pattern for reading ``(Name: value)`` pairs out of the user agent.
PROVIDER_UA_PATTERN = re.compile(r"\((.*?): (.*?)\)")

_HEX = re.compile(r"[0-9a-fA-F]*")
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII: safe inside an HTTP header
_UA_PART = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]*")
_HOST = re.compile(r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class LaunchLinkError(ValueError):
    """The ``numbas://`` link is malformed or does not hold valid launch settings."""


class WrongPasswordError(LaunchLinkError):
    """The link did not decrypt: most likely the wrong password (or the wrong salt)."""


@dataclass(frozen=True)
class NumbasLaunch:
    """Decoded launch settings.

    ``host`` is the launch URL's ``host[:port]`` (lowercase, default port dropped): the
    Numbas app sends the token to that host, and the session is restricted to it.
    ``link_host`` is the host written in the ``numbas://`` link; the provider builds both
    from the same request, so they normally agree (``inspect`` warns when they do not).
    The token never appears in ``repr``.
    """

    host: str
    url: str
    token: str = field(repr=False)
    link_host: str = ""


def _make_key(password: str, salt: str) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt.encode("utf-8"),
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=KEY_BYTES,
        maxmem=64 * 1024 * 1024,
    )


def _split_link(link: str) -> tuple[str, bytes]:
    """Return (link host, iv + ciphertext) or raise LaunchLinkError."""
    if not isinstance(link, str):
        raise LaunchLinkError("a Numbas link must be a string")
    link = link.strip()
    if len(link) > MAX_LINK_LENGTH:
        raise LaunchLinkError(f"the Numbas link is longer than {MAX_LINK_LENGTH} characters")
    scheme, sep, rest = link.partition("://")
    if not sep or scheme.lower() != SCHEME:
        raise LaunchLinkError("not a Numbas lockdown link: it must start with numbas://")
    if any(ch in rest for ch in "?#") or any(ord(ch) <= 32 or ord(ch) == 127 for ch in rest):
        raise LaunchLinkError(
            "the Numbas link contains a query, fragment, spaces or control characters"
        )
    host, slash, data = rest.partition("/")
    if not host or not _HOST.fullmatch(host):
        raise LaunchLinkError("the Numbas link has no valid host name")
    if not slash or not data or data == "/":
        raise LaunchLinkError("the Numbas link has no encrypted settings after the host")
    if data.endswith("/"):
        data = data[:-1]  # some OS URL handlers append a slash
    if not _HEX.fullmatch(data):
        raise LaunchLinkError("the Numbas link's settings contain characters that are not hex")
    if len(data) % 2:
        raise LaunchLinkError("the Numbas link's settings have an odd number of hex digits")
    raw = binascii.unhexlify(data)
    if len(raw) <= IV_BYTES:
        raise LaunchLinkError(
            f"the Numbas link is truncated: {len(raw)} bytes, not even an IV and one block"
        )
    if (len(raw) - IV_BYTES) % 16:
        raise LaunchLinkError(
            "the Numbas link is truncated: the ciphertext is not a whole number of AES blocks"
        )
    return host.lower(), raw


def _decrypt(raw: bytes, password: str, salt: str) -> str:
    iv, ciphertext = raw[:IV_BYTES], raw[IV_BYTES:]
    try:
        return aes_cbc_decrypt(_make_key(password, salt), iv, ciphertext).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise WrongPasswordError(
            "could not decrypt the Numbas link: wrong password (or the institution's salt "
            "does not match the server's)"
        ) from None


def _launch_url(value: object) -> tuple[str, str]:
    """Validate the decrypted launch URL; return (url, host[:port])."""
    if not isinstance(value, str) or not value:
        raise LaunchLinkError("the link's settings have no launch URL ('url')")
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in value):
        raise LaunchLinkError("the link's launch URL contains spaces or control characters")
    split = urllib.parse.urlsplit(value)
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise LaunchLinkError(
            f"the link's launch URL must be http:// or https://, not {split.scheme or 'none'}:"
        )
    if not split.hostname or "@" in split.netloc:
        raise LaunchLinkError("the link's launch URL has no valid host (or includes a login)")
    try:
        port = split.port
    except ValueError:
        raise LaunchLinkError("the link's launch URL has an invalid port") from None
    host = split.hostname
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return value, host


def decode_launch_link(link: str, *, password: str, salt: str) -> NumbasLaunch:
    """Decrypt and validate a ``numbas://`` lockdown link.

    Raises :class:`WrongPasswordError` when the data does not decrypt (bad padding or
    undecodable text: almost certainly the wrong password or salt) and
    :class:`LaunchLinkError` for every other problem (malformed link, non-JSON settings,
    missing or invalid ``url``/``token``). Costs one scrypt derivation (~16 MiB, tens of ms).
    """
    link_host, raw = _split_link(link)
    text = _decrypt(raw, password, salt)
    try:
        data = json.loads(text)
    except ValueError:
        raise LaunchLinkError(
            "the link decrypted, but its settings are not valid JSON "
            "(the link is damaged or was not made by a Numbas LTI provider)"
        ) from None
    if not isinstance(data, dict):
        raise LaunchLinkError("the link's settings are not a JSON object")
    url, host = _launch_url(data.get("url"))
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise LaunchLinkError("the link's settings have no access token ('token')")
    if len(token) > MAX_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
        raise LaunchLinkError(
            "the link's access token is too long or contains characters not allowed in a header"
        )
    return NumbasLaunch(host=host.lower(), url=url, token=token, link_host=link_host)


def current_platform_name() -> str:
    """This OS as the Numbas app reports it: Electron's ``process.platform`` value.

    "linux", "win32" or "darwin" (macOS).
    """
    if sys.platform.startswith("win"):
        return "win32"
    if sys.platform == "darwin":
        return "darwin"
    return "linux"


def numbas_user_agent(app_version: str, platform: str) -> str:
    """The whole user agent the Numbas lockdown app sends for provider sessions."""
    for what, value in (("version", app_version), ("platform", platform)):
        if not _UA_PART.fullmatch(value):
            raise ValueError(f"invalid {what} for the Numbas user agent: {value!r}")
    return f"{USER_AGENT_PRODUCT} (Version: {app_version}) (Platform: {platform})"


def basic_auth_header(token: str) -> str:
    """``Authorization`` header value for the provider: ``Basic <token>`` (token verbatim)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
        raise ValueError("the Numbas access token is empty or not header-safe")
    return f"Basic {token}"


def parse_provider_user_agent(user_agent: str) -> dict[str, str]:
    """The ``(Name: value)`` pairs the provider reads from a user agent (later pairs win)."""
    return dict(PROVIDER_UA_PATTERN.findall(user_agent))
