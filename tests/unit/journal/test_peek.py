"""The start-up check that decides whether the journal must open before the first answer."""

from __future__ import annotations

from pathlib import Path

from lockdown.journal.peek import may_have_pending
from lockdown.journal.store import Journal

ORIGIN = "https://moodle.test"
A = "moodle-scorm:5:2:1"


def test_no_file_means_nothing_waits(journal_path: Path) -> None:
    assert not may_have_pending(journal_path)
    assert not journal_path.exists()  # looking never creates the file


def test_a_pending_answer_is_seen_even_while_the_journal_is_open(journal: Journal,
                                                                  journal_path: Path) -> None:
    assert not may_have_pending(journal_path)  # created, empty
    entry = journal.record(ORIGIN, A, "cmi.location", "p1", client_time=1.0)
    assert may_have_pending(journal_path)  # WAL content of a live (or crashed) writer
    journal.mark_acked([entry.id])
    assert not may_have_pending(journal_path)


def test_an_unreadable_file_may_hold_answers(tmp_path: Path) -> None:
    damaged = tmp_path / "journal.sqlite3"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 3000)
    assert may_have_pending(damaged)  # so the full open quarantines it and says so
    foreign = tmp_path / "other.sqlite3"
    foreign.write_bytes(b"not a database at all")
    assert may_have_pending(foreign)
