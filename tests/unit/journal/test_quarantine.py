"""Untrusted journals are moved aside and reported -- never sent, never a crash."""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
from pathlib import Path

import pytest

from lockdown.journal.errors import JournalError
from lockdown.journal.store import Journal
from tests.unit.journal.conftest import KEY, Clock, moodle_context

ORIGIN = "https://moodle.test"
A = "moodle-scorm:5:2:1"
OTHER_UID = 4242


def filled(path: Path, clock: Clock, count: int = 50) -> None:
    journal = Journal(path, KEY, clock=clock)
    for i in range(count):
        journal.record(
            ORIGIN, A, f"cmi.interactions.{i}.learner_response", "x" * 200, client_time=i
        )
    journal.set_context(moodle_context(ORIGIN))
    journal.close()


def quarantined(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if ".quarantine" in p.name)


def reopen_expecting_quarantine(path: Path, clock: Clock, reason: str) -> Journal:
    journal = Journal(path, KEY, clock=clock)
    assert journal.pending() == [], "nothing from an untrusted file may be sent"
    (notice,) = journal.notices
    assert reason in notice.reason
    assert notice.moved_to.exists()
    assert str(notice.moved_to) in notice.message and "support" in notice.message
    assert journal.take_notices() == [notice] and journal.take_notices() == []
    # the fresh journal works
    journal.record(ORIGIN, A, "cmi.location", "new", client_time=1)
    assert journal.pending_count() == 1
    return journal


def test_truncated_file_is_quarantined(journal_path: Path, clock: Clock) -> None:
    filled(journal_path, clock)
    size = journal_path.stat().st_size
    with open(journal_path, "r+b") as handle:
        handle.truncate(size // 2)
    journal = reopen_expecting_quarantine(journal_path, clock, "damaged or truncated")
    journal.close()
    moved = quarantined(journal_path)
    assert moved and moved[0].name.startswith("journal.sqlite3.quarantined-")


@pytest.mark.parametrize("offset", [0, 100])
def test_corrupted_header_is_quarantined(journal_path: Path, clock: Clock, offset: int) -> None:
    filled(journal_path, clock)
    with open(journal_path, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"this is not sqlite at all!" * 4)
    reopen_expecting_quarantine(journal_path, clock, "damaged or truncated").close()


@pytest.mark.parametrize("seed", range(12))
def test_random_corruption_is_never_trusted_silently(
    journal_path: Path, clock: Clock, seed: int
) -> None:
    """Wherever bytes are damaged: no crash, no altered value sent, any loss is reported."""
    filled(journal_path, clock)
    originals = {f"cmi.interactions.{i}.learner_response": "x" * 200 for i in range(50)}
    rng = random.Random(seed)
    size = journal_path.stat().st_size
    with open(journal_path, "r+b") as handle:
        for _ in range(3):
            handle.seek(rng.randrange(0, size - 64))
            handle.write(rng.randbytes(64))
    journal = Journal(journal_path, KEY, clock=clock)
    try:
        pending = journal.pending()
        assert all(originals.get(e.key) == e.value for e in pending)
        if len(pending) < len(originals):
            assert journal.notices, "lost entries must be reported"
    finally:
        journal.close()


def test_garbage_file_is_quarantined(journal_path: Path, clock: Clock) -> None:
    journal_path.parent.mkdir(mode=0o700)
    journal_path.write_bytes(b"\x00garbage" * 1000)
    reopen_expecting_quarantine(journal_path, clock, "damaged or truncated").close()


def test_other_sqlite_database_is_quarantined(journal_path: Path, clock: Clock) -> None:
    journal_path.parent.mkdir(mode=0o700)
    conn = sqlite3.connect(journal_path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    reopen_expecting_quarantine(journal_path, clock, "not a lockdown answer journal").close()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_file_of_another_user_is_quarantined(journal_path: Path, clock: Clock) -> None:
    filled(journal_path, clock)
    os.chown(journal_path, OTHER_UID, OTHER_UID)
    reopen_expecting_quarantine(journal_path, clock, "another OS user").close()
    assert quarantined(journal_path)[0].stat().st_uid == OTHER_UID


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_folder_of_another_user_is_an_error(journal_path: Path, clock: Clock) -> None:
    journal_path.parent.mkdir(mode=0o700)
    os.chown(journal_path.parent, OTHER_UID, OTHER_UID)
    with pytest.raises(JournalError, match="belongs to another user"):
        Journal(journal_path, KEY, clock=clock)


def test_symlink_is_quarantined_not_followed(
    journal_path: Path, clock: Clock, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.sqlite3"
    filled(target, clock)
    journal_path.parent.mkdir(mode=0o700)
    journal_path.symlink_to(target)
    reopen_expecting_quarantine(journal_path, clock, "not a regular file").close()
    assert target.exists()  # the link was moved aside, the target untouched


def test_journal_written_with_another_key_is_quarantined(journal_path: Path, clock: Clock) -> None:
    filled(journal_path, clock)
    journal = Journal(journal_path, b"another key, 32 bytes long......", clock=clock)
    try:
        assert journal.pending() == []
        (notice,) = journal.notices
        assert "different journal key" in notice.reason
    finally:
        journal.close()


def tamper(path: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE entries SET value = 'forged answer' WHERE id = 3",
        "UPDATE entries SET state = 'acked' WHERE id = 3",
        "UPDATE entries SET attempt = 'moodle-scorm:9:9:9' WHERE id = 3",
        "UPDATE entries SET mac = 'x' WHERE id = 3",
    ],
)
def test_tampered_entry_is_quarantined_and_others_kept(
    journal_path: Path, clock: Clock, sql: str, caplog: pytest.LogCaptureFixture
) -> None:
    filled(journal_path, clock, count=5)
    tamper(journal_path, sql)
    with caplog.at_level(logging.WARNING, logger="lockdown.journal"):
        journal = Journal(journal_path, KEY, clock=clock)
    try:
        assert sorted(e.id for e in journal.pending()) == [1, 2, 4, 5]
        (notice,) = journal.notices
        assert notice.entries == 1 and "HMAC" in notice.reason
        lines = notice.moved_to.read_text().splitlines()
        assert [json.loads(line)["id"] for line in lines] == [3]
        assert oct(notice.moved_to.stat().st_mode & 0o777) == "0o600"
        assert any("quarantine" in r.getMessage() for r in caplog.records)
    finally:
        journal.close()


def test_entry_tampered_while_open_is_quarantined_on_read(
    journal: Journal, journal_path: Path
) -> None:
    for i in range(3):
        journal.record(ORIGIN, A, f"cmi.k{i}", "v", client_time=i)
    tamper(journal_path, "UPDATE entries SET value = 'forged' WHERE id = 2")
    assert [e.id for e in journal.pending()] == [1, 3]
    assert journal.take_notices()[0].entries == 1


def test_tampered_save_endpoint_is_discarded(journal_path: Path, clock: Clock) -> None:
    filled(journal_path, clock, count=2)
    tamper(journal_path, "UPDATE contexts SET endpoint = 'https://evil.test/steal'")
    journal = Journal(journal_path, KEY, clock=clock)
    try:
        assert journal.context(ORIGIN, A) is None
        assert "save endpoint" in journal.notices[0].reason
        assert journal.pending_count() == 2  # the answers themselves are fine
    finally:
        journal.close()


def test_read_only_open_changes_nothing(journal_path: Path, clock: Clock) -> None:
    filled(journal_path, clock, count=3)
    tamper(journal_path, "UPDATE entries SET value = 'forged' WHERE id = 2")
    before = journal_path.read_bytes()
    journal = Journal(journal_path, KEY, clock=clock, read_only=True)
    try:
        assert [e.id for e in journal.unsent()] == [1, 3]
        assert journal.notices[0].entries == 1
        assert journal.notices[0].moved_to == journal_path  # reported, not moved
        with pytest.raises(JournalError, match="read-only"):
            journal.record(ORIGIN, A, "k", "v", client_time=1)
    finally:
        journal.close()
    assert journal_path.read_bytes() == before
    assert quarantined(journal_path) == []


def test_read_only_open_of_untrusted_file_is_an_error(journal_path: Path, clock: Clock) -> None:
    journal_path.parent.mkdir(mode=0o700)
    journal_path.write_bytes(b"garbage" * 100)
    with pytest.raises(JournalError, match="unreadable"):
        Journal(journal_path, KEY, read_only=True)
    with pytest.raises(JournalError, match="no answer journal"):
        Journal(journal_path.with_name("missing.sqlite3"), KEY, read_only=True)


class _FailingOnce:
    """Stands in for the SQLite connection: the next statement fails with ``error``."""

    def __init__(self, real: sqlite3.Connection, error: Exception) -> None:
        self.real = real
        self.error: Exception | None = error

    def execute(self, *args: object) -> object:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return self.real.execute(*args)  # type: ignore[arg-type]

    def close(self) -> None:
        self.real.close()


def test_damage_found_while_running_is_quarantined_and_work_continues(
    journal: Journal, journal_path: Path
) -> None:
    journal.record(ORIGIN, A, "cmi.old", "v", client_time=1)
    journal._conn = _FailingOnce(  # type: ignore[assignment]
        journal._conn, sqlite3.DatabaseError("database disk image is malformed")
    )
    entry = journal.record(ORIGIN, A, "cmi.new", "v2", client_time=2)  # retried on a fresh file
    assert [e.key for e in journal.pending()] == ["cmi.new"] and entry.key == "cmi.new"
    (notice,) = journal.take_notices()
    assert "damaged while in use" in notice.reason
    moved = Journal(notice.moved_to, KEY)  # the old answers are kept aside, intact
    try:
        assert [e.key for e in moved.pending()] == ["cmi.old"]
    finally:
        moved.close()


def test_other_sqlite_failures_become_journal_errors(journal: Journal) -> None:
    journal._conn = _FailingOnce(  # type: ignore[assignment]
        journal._conn, sqlite3.OperationalError("database or disk is full")
    )
    with pytest.raises(JournalError, match="disk is full"):
        journal.record(ORIGIN, A, "cmi.k", "v", client_time=1)
    assert journal.notices == []
