"""The journal's file on disk: safety checks, moving untrusted files aside, opening SQLite.

Kept apart from :mod:`lockdown.journal.store` so that the rules about *which file may be trusted*
are in one short place: the folder must be the user's own (0700), the file a regular file of the
same OS user (0600, never a symlink), structurally sound (``integrity_check``; damaged indexes are
rebuilt), a lockdown journal of this schema, and written with the same key.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from lockdown.journal.errors import JournalError
from lockdown.journal.model import utc_stamp

log = logging.getLogger("lockdown.journal")

APP_ID = "lockdown-journal"
SCHEMA_VERSION = "1"
SIDE_FILES = ("-wal", "-shm")
SCHEMA = """
CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL, attempt TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    client_time REAL NOT NULL, counter INTEGER NOT NULL, recorded_at REAL NOT NULL,
    session TEXT NOT NULL, source TEXT NOT NULL, extra TEXT NOT NULL, state TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE INDEX entries_by_key ON entries (origin, attempt, key, id);
CREATE INDEX entries_by_state ON entries (state, id);
CREATE TABLE contexts (
    origin TEXT NOT NULL, attempt TEXT NOT NULL, adapter TEXT NOT NULL, endpoint TEXT NOT NULL,
    params TEXT NOT NULL, page_url TEXT NOT NULL, api TEXT NOT NULL, updated_at REAL NOT NULL,
    mac TEXT NOT NULL, PRIMARY KEY (origin, attempt)
);
"""
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class ForeignKeyError(sqlite3.DatabaseError):
    """The journal's stored key fingerprint is not ours."""

    def __str__(self) -> str:
        return "it was written with a different journal key"


def prepare_folder(folder: Path) -> None:
    """Create the journal folder (0700); refuse one that belongs to another OS user."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.stat(folder)
    except OSError as exc:
        raise JournalError(f"The journal folder {folder} cannot be created: {exc}.") from None
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise JournalError(
            f"The journal folder {folder} belongs to another user (uid {info.st_uid});"
            " answers cannot be kept safely there."
        )
    if info.st_mode & 0o077:
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o700)


def file_problem(path: Path) -> str | None:
    """Why an existing file must not be opened, or None (also None when there is none)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"it cannot be inspected ({exc})"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"it belongs to another OS user (uid {info.st_uid})"
    return None


def fsync_folder(folder: Path) -> None:
    """Make a created or renamed file's directory entry durable too (POSIX)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_aside(path: Path, reason: str, now: float) -> Path:
    """Rename the journal and its WAL/SHM files to ``<path>.quarantined-<UTC time>``."""
    target = Path(f"{path}.quarantined-{utc_stamp(now)}")
    n = 1
    while os.path.lexists(target):
        n += 1
        target = Path(f"{path}.quarantined-{utc_stamp(now)}-{n}")
    for suffix in ("", *SIDE_FILES):
        source = Path(str(path) + suffix)
        if os.path.lexists(source):
            try:
                os.replace(source, Path(str(target) + suffix))
            except OSError as exc:
                raise JournalError(
                    f"The answer journal {path} cannot be trusted ({reason}) and cannot be"
                    f" moved aside: {exc}."
                ) from None
    fsync_folder(path.parent)
    return target


def write_rows_aside(
    path: Path, names: Sequence[str], rows: Sequence[Sequence[Any]], now: float
) -> Path:
    """Append untrusted rows as JSON lines to ``<path>.quarantine-<UTC time>.jsonl`` (0600)."""
    target = Path(f"{path}.quarantine-{utc_stamp(now)}.jsonl")
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        for row in rows:
            record = dict(zip(names, row, strict=True))
            handle.write(json.dumps(record, ensure_ascii=False, default=repr) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return target


class Recoverable(Protocol):
    def _recover(self, exc: sqlite3.DatabaseError | UnicodeDecodeError) -> None: ...


_S = TypeVar("_S", bound=Recoverable)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def recovering(
    method: Callable[Concatenate[_S, _P], _R],
) -> Callable[Concatenate[_S, _P], _R]:
    """For public journal methods: a file damaged while in use is quarantined, replaced (by the
    object's ``_recover``), and the call retried once. Other SQLite failures (disk full, I/O
    errors) become :class:`JournalError` with a message (``_recover`` raises it)."""

    @functools.wraps(method)
    def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            self._recover(exc)
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.DatabaseError, UnicodeDecodeError) as again:
                raise JournalError(f"The answer journal failed twice: {again}.") from None

    return wrapper


def is_corruption(exc: BaseException) -> bool:
    """Whether an error means the file is damaged (as opposed to full, locked, unreadable)."""
    if isinstance(exc, ForeignKeyError | UnicodeDecodeError):
        return True
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in str(exc)


def _decode_text(raw: bytes) -> str:
    # Damaged text must not raise while reading: it decodes with U+FFFD and then fails its HMAC.
    return raw.decode("utf-8", "replace")


def open_checked(
    path: Path, key_id: str, *, read_only: bool, untrusted: Callable[[str], None]
) -> sqlite3.Connection:
    """Open the journal. An untrusted file is handed to ``untrusted(reason)`` (which moves it
    aside) and a fresh journal is created; read-only opening raises :class:`JournalError`."""
    if read_only:
        if not path.exists():
            raise JournalError(f"There is no answer journal at {path}.")
        problem = file_problem(path)
        if problem:
            raise JournalError(f"The answer journal {path} cannot be trusted: {problem}.")
        try:
            return connect(path, key_id, read_only=True)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"The answer journal {path} is unreadable: {exc}.") from None
    prepare_folder(path.parent)
    problem = file_problem(path)
    if problem:
        untrusted(problem)
    try:
        return connect(path, key_id, read_only=False)
    except ForeignKeyError as exc:
        untrusted(str(exc))
    except sqlite3.DatabaseError as exc:
        untrusted(f"the file is damaged or truncated: {exc}")
    try:
        return connect(path, key_id, read_only=False)
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"A new answer journal cannot be created at {path}: {exc}.") from None


def connect(path: Path, key_id: str, *, read_only: bool) -> sqlite3.Connection:
    """Open (creating if needed, unless ``read_only``) and check the journal database.

    Raises ``sqlite3.DatabaseError`` (:class:`ForeignKeyError` for another key) when the file must
    not be trusted; the caller decides whether to move it aside.
    """
    if read_only:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        if not path.exists():
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            os.close(os.open(path, flags, 0o600))
            fsync_folder(path.parent)
        conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
    try:
        _configure(conn, path, key_id, read_only=read_only)
    except UnicodeDecodeError:  # SQLite's own error text quotes the damaged bytes
        conn.close()
        raise sqlite3.DatabaseError("its structure is unreadable") from None
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def _configure(conn: sqlite3.Connection, path: Path, key_id: str, *, read_only: bool) -> None:
    conn.text_factory = _decode_text
    conn.execute("PRAGMA busy_timeout = 10000")
    if not read_only:
        # Only takes effect on a new, empty file (must precede WAL mode): lets compaction give
        # freed pages back, so the file shrinks after an outage's backlog is delivered.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.DatabaseError(f"WAL mode refused ({mode})")
        conn.execute("PRAGMA synchronous = FULL")
        # Small, frequent writes: checkpoint often and keep the WAL file itself small, so the
        # journal's size on disk stays bounded (measured by bench/journal_bench.py).
        conn.execute("PRAGMA wal_autocheckpoint = 256")
        conn.execute("PRAGMA journal_size_limit = 1048576")
    _check_structure(conn, path, read_only=read_only)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables and not read_only:
        # One transaction: a crash during creation leaves an empty file, never half a schema.
        conn.execute("BEGIN IMMEDIATE")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany(
            "INSERT INTO meta (k, v) VALUES (?, ?)",
            [("app", APP_ID), ("schema", SCHEMA_VERSION), ("key_id", key_id)],
        )
        conn.execute("COMMIT")
    elif not tables:
        raise sqlite3.DatabaseError("it is empty (no answers were ever recorded)")
    elif not {"meta", "entries", "contexts"} <= tables:
        raise sqlite3.DatabaseError("it is not a lockdown answer journal of this version")
    if not read_only:
        tighten_permissions(path)
    meta = dict(conn.execute("SELECT k, v FROM meta").fetchall())
    if meta.get("app") != APP_ID or meta.get("schema") != SCHEMA_VERSION:
        raise sqlite3.DatabaseError("it is not a lockdown answer journal of this version")
    if meta.get("key_id") != key_id:
        raise ForeignKeyError


def _check_structure(conn: sqlite3.Connection, path: Path, *, read_only: bool) -> None:
    check = conn.execute("PRAGMA integrity_check(5)").fetchone()[0]
    if check != "ok" and not read_only:
        # Damaged indexes are rebuilt from the table; damaged rows fail their HMAC later.
        with contextlib.suppress(sqlite3.DatabaseError):
            conn.execute("REINDEX")
            check = conn.execute("PRAGMA integrity_check(5)").fetchone()[0]
            if check == "ok":
                log.warning(
                    "journal index was damaged and has been rebuilt: %s",
                    path,
                    extra={"event": "journal.reindexed", "fields": {"path": str(path)}},
                )
    if check != "ok":
        raise sqlite3.DatabaseError(f"integrity check failed: {check}")


def tighten_permissions(path: Path) -> None:
    """0600 on the database and its WAL/SHM files (SQLite copies the main file's mode)."""
    for suffix in ("", *SIDE_FILES):
        candidate = Path(str(path) + suffix)
        with contextlib.suppress(OSError):
            if candidate.exists() and os.stat(candidate).st_mode & 0o077:
                os.chmod(candidate, 0o600)
