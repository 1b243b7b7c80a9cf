"""Per-request SEB hashes: ``X-SafeExamBrowser-ConfigKeyHash`` and ``...-RequestHash``.

Both are ``sha256_hex(url + key)`` where ``url`` is the absolute URL of the request exactly
as it goes on the wire (scheme, host, optional port, the encoded path and query) with the
fragment removed -- fragments are never sent, and the server only sees what was sent.
Moodle compares against ``sha256($FULLME . $key)`` (``seb_access_manager::check_key``) with
no normalisation, so the caller must pass the URL it actually requests, fully encoded
(from Qt: ``QUrl.toString(QUrl.ComponentFormattingOption.FullyEncoded)``), never a decoded
or re-normalised form. The same values feed ``SafeExamBrowser.security.configKey`` /
``browserExamKey`` in the page's JavaScript API, computed for the frame's URL.
"""

from __future__ import annotations

import hashlib

CONFIG_KEY_HASH_HEADER = "X-SafeExamBrowser-ConfigKeyHash"
REQUEST_HASH_HEADER = "X-SafeExamBrowser-RequestHash"


def url_without_fragment(url: str) -> str:
    """``url`` up to (not including) the first ``#``; nothing else is touched."""
    return url.split("#", 1)[0]


def _keyed_hash(url: str, key: str) -> str:
    return hashlib.sha256((url_without_fragment(url) + key).encode("utf-8")).hexdigest()


def config_key_hash(url: str, config_key: str) -> str:
    """Value of ``X-SafeExamBrowser-ConfigKeyHash`` for a request to ``url``."""
    return _keyed_hash(url, config_key)


def request_hash(url: str, browser_exam_key: str) -> str:
    """Value of ``X-SafeExamBrowser-RequestHash`` for a request to ``url``."""
    return _keyed_hash(url, browser_exam_key)


def seb_request_headers(
    url: str, *, config_key: str = "", browser_exam_key: str = ""
) -> dict[str, str]:
    """The SEB headers for a request to ``url``; a header is omitted when its key is empty."""
    headers: dict[str, str] = {}
    if config_key:
        headers[CONFIG_KEY_HASH_HEADER] = config_key_hash(url, config_key)
    if browser_exam_key:
        headers[REQUEST_HASH_HEADER] = request_hash(url, browser_exam_key)
    return headers
