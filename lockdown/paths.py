"""Per-user folders (profile, journal, logs, downloads): never the install folder.

Every OS user gets their own folders, so students sharing a cluster PC never see each other's data.
``LOCKDOWN_DATA_DIR`` relocates them (support and tests); it can only move the user's own data.
"""

from __future__ import annotations

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
    return "lockdown-" + re.sub(r"[^A-Za-z0-9_-]", "_", _user_name())


def _user_name() -> str:
    """``getpass.getuser()``'s answer, without importing getpass (and termios) at every start."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if user := os.environ.get(variable):
            return user
    if not hasattr(os, "getuid"):
        return "user"
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # no user name in a minimal container
        return str(os.getuid())
