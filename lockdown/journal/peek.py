"""Whether a journal file may hold answers waiting for the server, without the key or the store.

The app opens the journal itself (OS keyring, HMAC checks, the sender and its HTTP stack: about a
quarter of a second and 30 MiB) only when there is something to keep or to resend: at the first
answer a page gives, or at start when this check says a previous session left answers that the
server has not confirmed. It answers "maybe" for anything it cannot read (a damaged or foreign
file), so the full open -- which quarantines and explains -- still happens then.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: Any entry still waiting (the store's own count also skips superseded values; "maybe" is enough).
_ANY_PENDING = "SELECT EXISTS (SELECT 1 FROM entries WHERE state = 'pending')"


def may_have_pending(path: Path) -> bool:
    """False only when ``path`` is missing or is a readable journal with nothing pending."""
    if not path.exists():
        return False
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
        try:
            row = conn.execute(_ANY_PENDING).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return True
    return bool(row and row[0])
