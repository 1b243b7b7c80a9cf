"""Per-user folders (profile, journal, logs, downloads): never the install folder.

Every OS user gets their own folders, so students sharing a cluster PC never see each other's data.
``LOCKDOWN_DATA_DIR`` relocates them (support and tests); it can only move the user's own data.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path

import platformdirs

APP_NAME = "lockdown"


def data_dir() -> Path:
    override = os.environ.get("LOCKDOWN_DATA_DIR")
    base = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, False))
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return base


def profile_dir() -> Path:
    return data_dir() / "profile"


def journal_path() -> Path:
    return data_dir() / "journal.sqlite3"


def log_dir() -> Path:
    return data_dir() / "logs"


def downloads_dir() -> Path:
    override = os.environ.get("LOCKDOWN_DOWNLOADS_DIR")
    return Path(override) if override else Path(platformdirs.user_downloads_dir())


def profile_name() -> str:
    """A WebEngine storage name unique to the OS user (Qt wants a plain identifier)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no user name in a minimal container
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return "lockdown-" + re.sub(r"[^A-Za-z0-9_-]", "_", user)
