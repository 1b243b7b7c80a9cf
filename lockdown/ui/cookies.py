"""The session's cookies as Python sees them: one mirror of the WebEngine cookie store.

Two features send HTTP requests of their own with the student's session: the attempt journal's
sender (resending answers) and in-page ``seb://`` links (fetching the new configuration, then
carrying the cookies over the restart). Both read this one mirror, which the session builds
before the first page loads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lockdown import log

if TYPE_CHECKING:  # PySide6 builds each class's Python enums at its first import: not at start
    from PySide6.QtCore import QDateTime
    from PySide6.QtNetwork import QNetworkCookie

WARNING = 30


@dataclass(frozen=True)
class Cookie:
    """One cookie as the engine holds it."""

    name: str
    value: str
    domain: str  # lower case; a leading dot means "and subdomains"
    path: str
    secure: bool
    expires: float | None  # None: a session cookie
    http_only: bool = False


class CookieMirror:
    """The WebEngine cookie store as Python sees it, HttpOnly cookies included (the Moodle session
    cookie is HttpOnly). Fed on the UI thread; :meth:`for_url` is called from the sender thread.

    Qt 6.12 reports only *changes* (``cookieAdded``/``cookieRemoved``): its ``loadAllCookies()``
    discards Chromium's answer (``getAllCookies`` passes an empty callback), so cookies restored
    from disk -- the session a crashed app must resend with -- never reach Python. They are read
    from the profile's ``Cookies`` database instead: its bytes are copied here, before any page
    loads (Chromium opens the file at the first request), and parsed at the first read, off the
    start page's critical path. Changes reported meanwhile override the disk copy.
    """

    def __init__(
        self, store: Any, persisted: Path | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._lock = threading.Lock()
        self._cookies: dict[tuple[str, str, str], Cookie] = {}
        self._clock = clock
        self._persisted = (persisted, _read_bytes(persisted)) if persisted is not None else None
        # What the engine reported before the disk copy was merged: it wins over that copy.
        self._changed: set[tuple[str, str, str]] = set()
        self._removed: set[tuple[tuple[str, str, str], str]] = set()
        self._store = store
        store.cookieAdded.connect(self.add)
        store.cookieRemoved.connect(self.remove)
        store.loadAllCookies()  # in case a Qt version delivers them after all

    def disconnect_store(self) -> None:
        """Before the profile goes: its store must not call into Python while it is torn down
        (the mirror keeps what it has for a sender still finishing)."""
        self._store.cookieAdded.disconnect(self.add)
        self._store.cookieRemoved.disconnect(self.remove)

    def _cookies_held(self) -> dict[tuple[str, str, str], Cookie]:
        """The cookies, with the disk copy merged in on first use (call with the lock held)."""
        if self._persisted is not None:
            path, data = self._persisted
            self._persisted = None
            for cookie in parse_cookie_database(data, path, self._clock()):
                key = (cookie.name, cookie.domain, cookie.path)
                if key not in self._changed and (key, cookie.value) not in self._removed:
                    self._cookies[key] = cookie
        return self._cookies

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._cookies_held())

    @staticmethod
    def _convert(cookie: QNetworkCookie) -> Cookie:
        expiry: QDateTime = cookie.expirationDate()
        expires = None if cookie.isSessionCookie() else expiry.toSecsSinceEpoch() * 1.0
        return Cookie(
            bytes(cookie.name().data()).decode("latin-1"),
            bytes(cookie.value().data()).decode("latin-1"),
            cookie.domain().lower(),
            cookie.path() or "/",
            cookie.isSecure(),
            expires,
            cookie.isHttpOnly(),
        )

    def add(self, cookie: QNetworkCookie) -> None:
        mirrored = self._convert(cookie)
        key = (mirrored.name, mirrored.domain, mirrored.path)
        with self._lock:
            if self._persisted is not None:
                self._changed.add(key)
            self._cookies[key] = mirrored

    def remove(self, cookie: QNetworkCookie) -> None:
        mirrored = self._convert(cookie)
        key = (mirrored.name, mirrored.domain, mirrored.path)
        with self._lock:
            # Only that very cookie: a late removal of a replaced one keeps its successor.
            if key in self._cookies and self._cookies[key].value == mirrored.value:
                del self._cookies[key]
            elif self._persisted is not None:
                self._removed.add((key, mirrored.value))  # perhaps one from the disk copy

    def snapshot(self) -> list[Cookie]:
        """Every cookie now held, expired ones left out (carried over an SEB restart)."""
        now = self._clock()
        with self._lock:
            return [c for c in self._cookies_held().values()
                    if c.expires is None or c.expires > now]

    def for_url(self, url: str) -> dict[str, str]:
        """Name -> value of the cookies a browser would send to ``url`` (RFC 6265 matching)."""
        parts = urlsplit(url)
        host, path = (parts.hostname or "").lower(), parts.path or "/"
        now = self._clock()
        with self._lock:
            cookies = list(self._cookies_held().values())
        chosen: dict[str, str] = {}
        for cookie in sorted(cookies, key=lambda c: len(c.path)):  # longest path wins
            if cookie.expires is not None and cookie.expires <= now:
                continue
            if cookie.secure and parts.scheme != "https":
                continue
            if _domain_matches(host, cookie.domain) and _path_matches(path, cookie.path):
                chosen[cookie.name] = cookie.value
        return chosen


def _domain_matches(host: str, domain: str) -> bool:
    if domain.startswith("."):
        return host == domain[1:] or host.endswith(domain)
    return host == domain


def _path_matches(path: str, cookie_path: str) -> bool:
    if path == cookie_path:
        return True
    if not path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or path[len(cookie_path)] == "/"


#: Chromium stores times as microseconds since 1601-01-01 (the Windows epoch).
_CHROMIUM_EPOCH_OFFSET_S = 11_644_473_600


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        log.event("cookies.unreadable", f"cannot read {path}: {exc}", level=WARNING)
        return b""


def parse_cookie_database(data: bytes, path: Path, now: float) -> list[Cookie]:
    """The unexpired cookies in a copy of a Chromium ``Cookies`` database (``path`` names it in
    a warning), opened in memory: no lock on Chromium's file, no temporary copy of session
    cookies on disk. Encrypted values (Chromium's OS-keyring encryption, if a build uses it) are
    skipped; an unreadable database yields nothing and a warning."""
    if not data:
        return []
    found: list[Cookie] = []
    import sqlite3  # on first use: not on the way to the first page

    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(data)
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM cookies").fetchall()
    except sqlite3.Error as exc:
        log.event("cookies.unreadable", f"cannot read {path}: {exc}", level=WARNING)
        return []
    finally:
        conn.close()
    for row in rows:
        fields = row.keys()
        value = row["value"] if "value" in fields else ""
        if not value or (row["top_frame_site_key"] if "top_frame_site_key" in fields else ""):
            continue  # encrypted, or partitioned (only sent within its top-level site)
        micros = int(row["expires_utc"] or 0) if "expires_utc" in fields else 0
        expires = micros / 1_000_000 - _CHROMIUM_EPOCH_OFFSET_S if micros else None
        if expires is not None and expires <= now:
            continue
        http_only = bool(row["is_httponly"]) if "is_httponly" in fields else False
        found.append(Cookie(str(row["name"]), str(value), str(row["host_key"]).lower(),
                            str(row["path"] or "/"), bool(row["is_secure"]), expires, http_only))
    return found
