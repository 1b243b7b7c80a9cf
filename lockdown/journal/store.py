"""The durable, authenticated, append-only attempt journal (one SQLite file per OS user).

Contract:

* :meth:`Journal.record` returns only after the entry is committed with ``synchronous=FULL`` in WAL
  mode, i.e. after the WAL was fsync'ed: an entry whose ``record`` returned survives a crash or a
  SIGKILL of the app (the loss window is the time ``record`` takes, measured by the benchmark).
* Entries are never edited except for their ``state``; every row carries an HMAC-SHA256 over all of
  its fields (state included) with the key from :mod:`lockdown.journal.keys`.
* "Newer value wins": per ``(origin, attempt, key)`` only the latest entry that was not rejected by
  the LMS is ever sent. Older ones are ``superseded`` once a newer one is acknowledged, and
  :meth:`Journal.compact` deletes everything but the latest acknowledged value per key.
* Anything that cannot be trusted -- a corrupt or truncated file, a file owned by another OS user or
  not a regular file, a file written with another key, a row whose HMAC fails -- is moved aside with
  a timestamp (``<file>.quarantined-<UTC time>`` or ``<file>.quarantine-<UTC time>.jsonl``) and
  reported as a :class:`QuarantineNotice`; it is never sent and never crashes the app. A file found
  damaged while in use is moved aside too, and work continues on a fresh one.

Entry states are listed in :data:`lockdown.journal.model.STATES`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockdown.journal import sqlitefile
from lockdown.journal.errors import JournalError
from lockdown.journal.model import (
    STATES,
    AckOutcome,
    Entry,
    QuarantineNotice,
    SaveContext,
    context_mac,
    entry_mac,
    key_id,
    origin_of,
    same_mac,
    value_digest,
)

__all__ = [
    "DEFAULT_RETENTION_S",
    "STATES",
    "AckOutcome",
    "Entry",
    "Journal",
    "QuarantineNotice",
    "SaveContext",
    "origin_of",
    "value_digest",
]

log = logging.getLogger("lockdown.journal")

#: Latest acknowledged value per key is kept this long (stale-write guard, reconciliation).
DEFAULT_RETENTION_S = 24 * 3600.0

_COLUMNS = (
    "id, origin, attempt, key, value, client_time, counter, recorded_at, session, source, extra,"
    " state, mac"
)
# The latest entry per key that the LMS did not reject: the only one that may ever be sent.
_LATEST = "SELECT MAX(id) FROM entries WHERE state != 'rejected' GROUP BY origin, attempt, key"

# Everything but pending/local values and the latest acknowledged value per key (until cutoff).
# (S608: these queries are built from constants only; values are always bound parameters.)
_COMPACT = (
    "DELETE FROM entries WHERE (state IN ('acked', 'superseded', 'rejected')"  # noqa: S608
    " AND (id NOT IN (" + _LATEST + ") OR state != 'acked' OR recorded_at < ?))"
    " OR (state = 'local' AND id NOT IN (" + _LATEST + "))"
)
_COUNT_PENDING = (
    "SELECT COUNT(*) FROM entries WHERE state = 'pending' AND id IN (" + _LATEST + ")"  # noqa: S608
)


@dataclass
class _Cache:
    contexts: dict[tuple[str, str], SaveContext] = field(default_factory=dict)


class Journal:
    """The journal file. Thread-safe: the UI thread records, the sender thread acknowledges.

    Open with ``Journal(path, key)``; read :attr:`notices` (and :meth:`take_notices` later) to show
    what was quarantined. ``read_only=True`` (support export) never moves or changes anything:
    untrusted rows are skipped and reported in :attr:`notices` with ``moved_to`` the journal itself.
    """

    def __init__(
        self,
        path: Path,
        key: bytes,
        *,
        clock: Callable[[], float] = time.time,
        read_only: bool = False,
        retention_s: float = DEFAULT_RETENTION_S,
    ) -> None:
        if len(key) < 16:
            raise JournalError("The journal key is too short to authenticate entries.")
        self.path = Path(path)
        self._key = key
        self._clock = clock
        self._read_only = read_only
        self._retention_s = retention_s
        self._lock = threading.RLock()
        self._in_transaction = False
        self._cache = _Cache()
        self.session = uuid.uuid4().hex
        self.notices: list[QuarantineNotice] = []
        self._unread_notices: list[QuarantineNotice] = []
        self._key_id = key_id(key)
        self._conn = self._open()
        if not read_only:
            self._verify_all_rows()

    # -- opening and quarantine ---------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        return sqlitefile.open_checked(
            self.path, self._key_id, read_only=self._read_only, untrusted=self._quarantine_file
        )

    def _quarantine_file(self, reason: str) -> None:
        target = sqlitefile.move_aside(self.path, reason, self._clock())
        self._notify(QuarantineNotice(reason, target, self._clock()))

    def _notify(self, notice: QuarantineNotice) -> None:
        self.notices.append(notice)
        self._unread_notices.append(notice)
        log.warning(
            "journal quarantine: %s",
            notice.message,
            extra={
                "event": "journal.quarantined",
                "fields": {"reason": notice.reason, "moved_to": str(notice.moved_to)},
            },
        )

    def take_notices(self) -> list[QuarantineNotice]:
        """Notices not yet handed out (so the UI shows each one once)."""
        with self._lock:
            taken, self._unread_notices = self._unread_notices, []
            return taken

    # -- HMAC ---------------------------------------------------------------------------------
    def _verified(self, rows: Iterable[Sequence[Any]]) -> list[Entry]:
        good: list[Entry] = []
        bad: list[Sequence[Any]] = []
        for row in rows:
            expected = entry_mac(self._key, row)
            if same_mac(expected, row[12]) and row[11] in STATES:
                good.append(Entry(*row[:12]))
            else:
                bad.append(row)
        if bad:
            self._quarantine_rows(bad)
        return good

    def _quarantine_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        if self._read_only:
            self._notify(
                QuarantineNotice("their HMAC does not match", self.path, self._clock(), len(rows))
            )
            return
        names = _COLUMNS.replace(" ", "").split(",")
        target = sqlitefile.write_rows_aside(self.path, names, rows, self._clock())
        with self._write():
            self._conn.executemany("DELETE FROM entries WHERE id = ?", [(row[0],) for row in rows])
        self._notify(
            QuarantineNotice(
                "their HMAC does not match (edited on disk?)", target, self._clock(), len(rows)
            )
        )

    def _verify_all_rows(self) -> None:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM entries").fetchall()  # noqa: S608 - constant
            self._verified(rows)
            bad = [
                row
                for row in self._conn.execute(
                    "SELECT origin, attempt, adapter, endpoint, params, page_url, api, updated_at,"
                    " mac FROM contexts"
                ).fetchall()
                if not same_mac(context_mac(self._key, row), row[8])
            ]
            if bad:
                with self._write():
                    self._conn.executemany(
                        "DELETE FROM contexts WHERE origin = ? AND attempt = ?",
                        [(row[0], row[1]) for row in bad],
                    )
                self._notify(
                    QuarantineNotice(
                        "a save endpoint record failed its HMAC and was discarded",
                        self.path,
                        self._clock(),
                    )
                )

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One durable transaction: BEGIN IMMEDIATE ... COMMIT (fsync of the WAL)."""
        if self._read_only:
            raise JournalError("This answer journal was opened read-only.")
        with self._lock:
            if self._in_transaction:  # nested (e.g. quarantining rows met while updating)
                yield
                return
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield
            except BaseException:
                if self._conn is conn:  # not replaced by _recover() meanwhile
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            else:
                if self._conn is conn:
                    conn.execute("COMMIT")
            finally:
                self._in_transaction = False

    def _recover(self, exc: sqlite3.DatabaseError | UnicodeDecodeError) -> None:
        """Quarantine a file found damaged while in use and continue on a fresh one."""
        if not sqlitefile.is_corruption(exc) or self._read_only:
            raise JournalError(f"The answer journal {self.path} failed: {exc}.") from None
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._in_transaction = False
            self._cache = _Cache()
            self._quarantine_file(f"the file was damaged while in use ({exc})")
            try:
                self._conn = sqlitefile.connect(self.path, self._key_id, read_only=False)
            except sqlite3.DatabaseError as again:
                raise JournalError(
                    f"A new answer journal cannot be created at {self.path}: {again}."
                ) from None

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Group several writes into one durable commit (one fsync), e.g. a storage snapshot.

        Inside the block, :meth:`record` returns before the commit; the values are durable when
        the block exits.
        """
        return self._write()

    # -- writing ------------------------------------------------------------------------------
    @sqlitefile.recovering
    def record(
        self,
        origin: str,
        attempt: str,
        key: str,
        value: str,
        *,
        client_time: float,
        counter: int = 0,
        source: str = "",
        extra: Mapping[str, Any] | None = None,
        state: str = "pending",
        context: SaveContext | None = None,
    ) -> Entry:
        """Append one value; returns once it is durable on disk (WAL fsync'ed).

        ``context`` (optional) is stored in the same transaction when it differs from the known
        one, so capturing a page's save endpoint costs no extra fsync.
        """
        if state not in STATES:
            raise JournalError(f"Unknown journal entry state {state!r}.")
        client_time = float(client_time)
        if not math.isfinite(client_time):
            raise JournalError("A journal entry needs a finite client time.")
        for text in (origin, attempt, key, value, source):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise JournalError("A journal entry must be valid Unicode text.") from None
        extra_json = json.dumps(dict(extra or {}), ensure_ascii=False, sort_keys=True)
        with self._write():
            previous = self._conn.execute(
                "SELECT value, state FROM entries WHERE origin = ? AND attempt = ? AND key = ?"
                " AND state != 'rejected' ORDER BY id DESC LIMIT 1",
                (origin, attempt, key),
            ).fetchone()
            if previous is not None and previous[0] != value:
                merged = json.loads(extra_json)
                merged.setdefault("prev", value_digest(previous[0]))
                extra_json = json.dumps(merged, ensure_ascii=False, sort_keys=True)
            elif previous is not None and previous[1] == "acked" and state == "pending":
                # The server already holds this very value (pages set unchanged values again,
                # and Moodle's player does not re-post them): nothing to deliver.
                state = "acked"
            row: list[Any] = [
                None, origin, attempt, key, value, client_time, int(counter),
                float(self._clock()), self.session, source, extra_json, state,
            ]  # fmt: skip
            cursor = self._conn.execute(
                "INSERT INTO entries (origin, attempt, key, value, client_time, counter,"
                " recorded_at, session, source, extra, state, mac) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')",
                row[1:],
            )
            row[0] = cursor.lastrowid
            self._conn.execute(
                "UPDATE entries SET mac = ? WHERE id = ?", (entry_mac(self._key, row), row[0])
            )
            if context is not None:
                self._store_context(context)
        return Entry(*row)

    def _store_context(self, context: SaveContext) -> None:
        cache_key = (context.origin, context.attempt)
        if context.same_target(self._cache.contexts.get(cache_key)):
            return
        params = json.dumps(dict(context.params), ensure_ascii=False, sort_keys=True)
        row = (
            context.origin,
            context.attempt,
            context.adapter,
            context.endpoint,
            params,
            context.page_url,
            context.api,
            float(context.updated_at or self._clock()),
        )
        self._conn.execute(
            "INSERT OR REPLACE INTO contexts (origin, attempt, adapter, endpoint, params, page_url,"
            " api, updated_at, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, context_mac(self._key, row)),
        )
        self._cache.contexts[cache_key] = context

    @sqlitefile.recovering
    def set_context(self, context: SaveContext) -> None:
        """Remember (durably) how to replay saves of ``context.attempt``; the latest one wins."""
        with self._lock:
            if context.same_target(self._cache.contexts.get((context.origin, context.attempt))):
                return
            with self._write():
                self._store_context(context)

    def _set_states(self, changes: Iterable[tuple[Entry, str]]) -> int:
        """Rewrite states (and MACs) of verified entries inside the current transaction."""
        count = 0
        for entry, state in changes:
            if entry.state == state:
                continue
            row = [*entry.row()[:11], state]
            self._conn.execute(
                "UPDATE entries SET state = ?, mac = ? WHERE id = ?",
                (state, entry_mac(self._key, row), entry.id),
            )
            count += 1
        return count

    def _rows(self, where: str, params: Sequence[object] = ()) -> list[Entry]:
        # ``where`` is always a constant fragment of this module; values are bound parameters.
        query = f"SELECT {_COLUMNS} FROM entries WHERE {where}"  # noqa: S608
        rows = self._conn.execute(query, params).fetchall()
        return self._verified(rows)

    @sqlitefile.recovering
    def mark_acked(self, ids: Iterable[int], *, by_app: bool = True) -> AckOutcome:
        """The server confirmed these entries: ack them, supersede older values of their keys.

        With ``by_app`` (the app's own resend), a *newer* value of the same key that was already
        acknowledged is set back to pending (listed in ``repended``): this resend may have
        overwritten it on the server (the page saved it while the resend was in flight), so it
        must be sent again. A resend thus never leaves an older value on the server.
        """
        wanted = sorted(set(ids))
        if not wanted:
            return AckOutcome(0, ())
        with self._lock, self._write():
            acked = self._rows(f"id IN ({','.join('?' * len(wanted))})", wanted)
            changes: list[tuple[Entry, str]] = []
            repended: list[int] = []
            for entry in acked:
                if entry.state in ("pending", "acked"):
                    changes.append((entry, "acked"))
                for other in self._rows(
                    "origin = ? AND attempt = ? AND key = ? AND id != ? AND state IN"
                    " ('pending', 'acked')",
                    (entry.origin, entry.attempt, entry.key, entry.id),
                ):
                    if other.id < entry.id:
                        changes.append((other, "superseded"))
                    elif by_app and other.state == "acked":
                        changes.append((other, "pending"))
                        repended.append(other.id)
            return AckOutcome(self._set_states(changes), tuple(repended))

    @sqlitefile.recovering
    def ack_values(self, origin: str, attempt: str, values: Mapping[str, str]) -> int:
        """The page's own save of ``key=value`` pairs succeeded: ack the matching latest values."""
        if not values:
            return 0
        acked = 0
        with self._lock:
            latest = self._latest_for(origin, attempt, list(values))
            ids = [e.id for e in latest if e.state == "pending" and values.get(e.key) == e.value]
            if ids:
                acked = self.mark_acked(ids, by_app=False).changed
        return acked

    def _latest_for(self, origin: str, attempt: str, keys: Sequence[str]) -> list[Entry]:
        found: list[Entry] = []
        for key in keys:  # one indexed lookup per key: cheap even with a large journal
            found.extend(
                self._rows(
                    "id = (SELECT MAX(id) FROM entries WHERE origin = ? AND attempt = ? AND key = ?"
                    " AND state != 'rejected')",
                    (origin, attempt, key),
                )
            )
        return found

    @sqlitefile.recovering
    def latest(self, origin: str, attempt: str, key: str) -> Entry | None:
        """The value that counts for ``key`` (newest not rejected), whatever its state."""
        with self._lock:
            found = self._latest_for(origin, attempt, [key])
        return found[0] if found else None

    @sqlitefile.recovering
    def reject(self, origin: str, page: str, counter: int) -> int:
        """The LMS refused the value the page ``page`` recorded as ``counter``: never send it."""
        with self._lock, self._write():
            where = (
                "origin = ? AND counter = ? AND session = ? AND state IN ('pending', 'local')"
                " AND json_extract(extra, '$.page') = ?"
            )
            found = self._rows(where, (origin, counter, self.session, page))
            return self._set_states((e, "rejected") for e in found)

    @sqlitefile.recovering
    def repend(self, entry_id: int) -> bool:
        """Send an acknowledged value again (the server was seen to have lost it)."""
        with self._lock, self._write():
            found = self._rows("id = ? AND state = 'acked'", (entry_id,))
            return self._set_states((e, "pending") for e in found) > 0

    @sqlitefile.recovering
    def rebind(self, origin: str, old_attempt: str, new_attempt: str) -> int:
        """Move entries recorded before the attempt was known (``page:<id>``) to the real attempt.

        They were ``local`` (no way to send them); now that the save endpoint is known they
        become ``pending``.
        """
        with self._lock, self._write():
            moved = 0
            for entry in self._rows("origin = ? AND attempt = ?", (origin, old_attempt)):
                row = [*entry.row()]
                row[2] = new_attempt
                row[11] = "pending" if entry.state == "local" else entry.state
                self._conn.execute(
                    "UPDATE entries SET attempt = ?, state = ?, mac = ? WHERE id = ?",
                    (new_attempt, row[11], entry_mac(self._key, row), entry.id),
                )
                moved += 1
            return moved

    @sqlitefile.recovering
    def update_source_fields(
        self, entry: Entry, *, client_time: float, counter: int, extra: Mapping[str, Any]
    ) -> Entry:
        """Adopt the LMS's own timestamp/counter for a captured value (exact-duplicate replays)."""
        with self._lock, self._write():
            merged = {**entry.extras(), **extra}
            row = [*entry.row()]
            row[5], row[6] = float(client_time), int(counter)
            row[10] = json.dumps(merged, ensure_ascii=False, sort_keys=True)
            self._conn.execute(
                "UPDATE entries SET client_time = ?, counter = ?, extra = ?, mac = ? WHERE id = ?",
                (row[5], row[6], row[10], entry_mac(self._key, row), entry.id),
            )
            return Entry(*row)

    @sqlitefile.recovering
    def compact(self) -> int:
        """Delete what can never be needed again; returns the number of rows removed.

        Kept: every pending or local entry, and per key the latest acknowledged value (for
        :attr:`DEFAULT_RETENTION_S`) so a stale resend or a server that lost data can be detected.
        """
        cutoff = self._clock() - self._retention_s
        with self._lock, self._write():
            removed = self._conn.execute(_COMPACT, (cutoff,)).rowcount
            removed += self._conn.execute(
                "DELETE FROM contexts WHERE updated_at < ? AND NOT EXISTS (SELECT 1 FROM entries e"
                " WHERE e.origin = contexts.origin AND e.attempt = contexts.attempt)",
                (cutoff,),
            ).rowcount
            if removed:
                self._conn.execute("PRAGMA incremental_vacuum")
        return removed

    # -- reading ------------------------------------------------------------------------------
    @sqlitefile.recovering
    def pending(self) -> list[Entry]:
        """Values still to deliver: the latest per key, only if pending, in journal order."""
        with self._lock:
            return self._rows(f"id IN ({_LATEST}) AND state = 'pending' ORDER BY id")

    @sqlitefile.recovering
    def pending_count(self) -> int:
        with self._lock:
            row = self._conn.execute(_COUNT_PENDING).fetchone()
            return int(row[0])

    @sqlitefile.recovering
    def entries(self, states: Iterable[str] | None = None) -> list[Entry]:
        """All verified entries (optionally only some states), in journal order."""
        with self._lock:
            if states is None:
                return self._rows("1 ORDER BY id")
            wanted = sorted(set(states))
            return self._rows(f"state IN ({','.join('?' * len(wanted))}) ORDER BY id", wanted)

    @sqlitefile.recovering
    def unsent(self) -> list[Entry]:
        """What the server does not have yet: latest values per key that are pending or local."""
        with self._lock:
            return self._rows(f"id IN ({_LATEST}) AND state IN ('pending', 'local') ORDER BY id")

    @sqlitefile.recovering
    def context(self, origin: str, attempt: str) -> SaveContext | None:
        with self._lock:
            cached = self._cache.contexts.get((origin, attempt))
            if cached is not None:
                return cached
            row = self._conn.execute(
                "SELECT origin, attempt, adapter, endpoint, params, page_url, api, updated_at, mac"
                " FROM contexts WHERE origin = ? AND attempt = ?",
                (origin, attempt),
            ).fetchone()
            if row is None or not same_mac(context_mac(self._key, row), row[8]):
                return None
            context = SaveContext(
                row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7]
            )
            self._cache.contexts[(origin, attempt)] = context
            return context

    def contexts(self) -> list[SaveContext]:
        with self._lock:
            keys = self._conn.execute("SELECT origin, attempt FROM contexts").fetchall()
        found = [self.context(origin, attempt) for origin, attempt in keys]
        return [c for c in found if c is not None]

    def size_bytes(self) -> int:
        """Bytes on disk (database plus WAL), for the growth benchmark."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.stat(str(self.path) + suffix).st_size
        return total

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                if not self._read_only:
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
