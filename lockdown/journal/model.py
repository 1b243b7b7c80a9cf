"""The journal's data types and the HMAC over them (no I/O here).

Every entry row and save-context row is authenticated with HMAC-SHA256 over a canonical JSON
rendering of all of its fields (state included), so any edit on disk is detected on read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: pending: to deliver; acked: the server confirmed this value; superseded: a newer value of the
#: key was confirmed; rejected: the LMS refused it in the page (never send); local: no way to send
#: it (no save endpoint known), kept for the support export.
STATES = frozenset({"pending", "acked", "superseded", "rejected", "local"})


@dataclass(frozen=True)
class Entry:
    """One journalled value. ``counter`` is the page's own counter; ``id`` orders all entries."""

    id: int
    origin: str
    attempt: str
    key: str
    value: str
    client_time: float
    counter: int
    recorded_at: float
    session: str
    source: str
    extra: str
    state: str

    def extras(self) -> dict[str, Any]:
        """The adapter-specific JSON object (e.g. the provider's ``time_iso`` and batch id)."""
        loaded = json.loads(self.extra)
        return loaded if isinstance(loaded, dict) else {}

    def row(self) -> tuple[Any, ...]:
        """The fields in column order (what the HMAC covers)."""
        return (
            self.id, self.origin, self.attempt, self.key, self.value, self.client_time,
            self.counter, self.recorded_at, self.session, self.source, self.extra, self.state,
        )  # fmt: skip


@dataclass(frozen=True)
class SaveContext:
    """How saves of one attempt reach the server: the endpoint and its non-element parameters.

    Captured from the page (Moodle's ``datamodelurl``/``datamodelurlparams``, the Numbas provider's
    attempt URL); the latest capture wins, so a new ``sesskey`` after a re-login is used.
    """

    origin: str
    attempt: str
    adapter: str
    endpoint: str
    params: Mapping[str, str]
    page_url: str
    api: str = ""
    updated_at: float = 0.0

    def same_target(self, other: SaveContext | None) -> bool:
        """True when saving with ``other`` would send exactly the same request shape."""
        return other is not None and (
            self.adapter,
            self.endpoint,
            dict(self.params),
            self.page_url,
            self.api,
        ) == (other.adapter, other.endpoint, dict(other.params), other.page_url, other.api)


@dataclass(frozen=True)
class QuarantineNotice:
    """Something was moved aside instead of being trusted; ``message`` is for the student/staff."""

    reason: str
    moved_to: Path
    when: float
    entries: int = 0

    @property
    def message(self) -> str:
        what = f"{self.entries} saved answer(s)" if self.entries else "The answer journal"
        return (
            f"{what} on this computer could not be verified ({self.reason}) and were moved aside"
            f" to {self.moved_to}. They will not be sent automatically; give this file to exam"
            " support."
        )


@dataclass(frozen=True)
class AckOutcome:
    """Result of ``Journal.mark_acked``: rows changed, newer values that must go again."""

    changed: int
    repended: tuple[int, ...]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` (lower case, no user info, no default port), or "" if none.

    The unit of trust for cookies and save endpoints.
    """
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed port
        return ""
    scheme = parts.scheme.lower()
    if not scheme or not host:
        return ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    suffix = f":{port}" if port is not None and port != _DEFAULT_PORTS.get(scheme) else ""
    return f"{scheme}://{host}{suffix}"


def value_digest(value: str) -> str:
    """Short digest of a value (the ``prev`` link used to spot a server that lost data)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def utc_stamp(when: float) -> str:
    """``YYYYmmddTHHMMSSZ``: the suffix of quarantined files."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))


def _canonical(parts: Sequence[object]) -> bytes:
    # default=repr: a damaged row may hold a BLOB where text belongs; it then fails its HMAC.
    text = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"), default=repr)
    return text.encode("utf-8", "replace")


def entry_mac(key: bytes, row: Sequence[object]) -> str:
    """HMAC of an entry row's 12 fields (id ... state)."""
    return hmac.new(key, _canonical(("entry", *row[:12])), hashlib.sha256).hexdigest()


def context_mac(key: bytes, row: Sequence[object]) -> str:
    """HMAC of a save-context row's 8 fields (origin ... updated_at)."""
    return hmac.new(key, _canonical(("context", *row[:8])), hashlib.sha256).hexdigest()


def same_mac(expected: str, stored: object) -> bool:
    """Constant-time comparison that tolerates damaged (non-text, non-ASCII) stored values."""
    return hmac.compare_digest(expected.encode("ascii"), str(stored).encode("utf-8", "replace"))


def key_id(key: bytes) -> str:
    """Fingerprint of the key stored in the journal (a different key means: quarantine)."""
    return hmac.new(key, b"lockdown-journal-key-id", hashlib.sha256).hexdigest()[:32]
