"""The journal's own contract: durable append, newer value wins, acks, compaction, contexts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lockdown.journal.errors import JournalError
from lockdown.journal.store import Journal, SaveContext, value_digest
from tests.unit.journal.conftest import KEY, Clock, moodle_context

ORIGIN = "https://moodle.test"
A = "moodle-scorm:5:2:1"


def rec(journal: Journal, key: str, value: str, **kw: object) -> int:
    entry = journal.record(ORIGIN, A, key, value, client_time=1.0, **kw)  # type: ignore[arg-type]
    return entry.id


def test_record_is_visible_after_reopen_and_files_are_owner_only(
    journal: Journal, journal_path: Path, clock: Clock
) -> None:
    first = journal.record(
        ORIGIN, A, "cmi.location", "p1", client_time=5, counter=3, source="scorm2004"
    )
    journal.close()
    reopened = Journal(journal_path, KEY, clock=clock)
    try:
        (entry,) = reopened.entries()
        assert entry == first
        assert entry.client_time == 5.0 and entry.counter == 3 and entry.state == "pending"
        assert reopened.notices == []
        for suffix in ("", "-wal", "-shm"):
            candidate = Path(str(journal_path) + suffix)
            if candidate.exists():
                assert stat.S_IMODE(os.stat(candidate).st_mode) == 0o600, suffix
        assert stat.S_IMODE(os.stat(journal_path.parent).st_mode) == 0o700
    finally:
        reopened.close()


def test_wal_and_full_sync_are_on(journal: Journal) -> None:
    conn = journal._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_only_latest_value_per_key_is_pending(journal: Journal) -> None:
    rec(journal, "cmi.location", "p1")
    rec(journal, "cmi.suspend_data", "s1")
    latest = rec(journal, "cmi.location", "p2")
    pending = journal.pending()
    assert [(e.key, e.value) for e in pending] == [
        ("cmi.suspend_data", "s1"),
        ("cmi.location", "p2"),
    ]
    assert journal.pending_count() == 2
    assert journal.latest(ORIGIN, A, "cmi.location").id == latest  # type: ignore[union-attr]


def test_ack_supersedes_older_values_of_the_key(journal: Journal) -> None:
    old = rec(journal, "cmi.location", "p1")
    new = rec(journal, "cmi.location", "p2")
    journal.mark_acked([new])
    states = {e.id: e.state for e in journal.entries()}
    assert states == {old: "superseded", new: "acked"}
    assert journal.pending() == []


def test_resend_that_raced_a_newer_page_save_makes_the_newer_value_pending_again(
    journal: Journal,
) -> None:
    """The app sent p1 while the page saved p2 successfully: p2 must be sent again."""
    old = rec(journal, "cmi.location", "p1")
    new = rec(journal, "cmi.location", "p2")
    journal.ack_values(ORIGIN, A, {"cmi.location": "p2"})  # the page's own save of p2
    journal.mark_acked([old])  # ...then the app's in-flight resend of p1 returned
    assert [(e.id, e.value) for e in journal.pending()] == [(new, "p2")]


def test_page_save_acks_only_matching_latest_values(journal: Journal) -> None:
    rec(journal, "cmi.location", "p1")
    rec(journal, "cmi.location", "p2")
    rec(journal, "cmi.suspend_data", "s1")
    assert journal.ack_values(ORIGIN, A, {"cmi.location": "p1", "cmi.suspend_data": "s1"}) == 1
    assert [(e.key, e.value) for e in journal.pending()] == [("cmi.location", "p2")]


def test_rejected_value_is_never_pending_and_older_value_counts_again(journal: Journal) -> None:
    rec(journal, "cmi.location", "good", extra={"page": "pg"}, counter=1)
    journal.mark_acked([e.id for e in journal.pending()])
    rec(journal, "cmi.location", "bad", extra={"page": "pg"}, counter=2)
    assert journal.reject(ORIGIN, "pg", 2) == 1
    assert journal.pending() == []
    latest = journal.latest(ORIGIN, A, "cmi.location")
    assert latest is not None and latest.value == "good"


def test_record_links_previous_value_digest(journal: Journal) -> None:
    rec(journal, "cmi.location", "p1")
    entry = journal.record(ORIGIN, A, "cmi.location", "p2", client_time=2)
    assert entry.extras()["prev"] == value_digest("p1")


def test_compact_keeps_pending_and_latest_ack_only(journal: Journal, clock: Clock) -> None:
    ids = [rec(journal, "cmi.location", f"p{i}") for i in range(5)]
    keep_pending = rec(journal, "cmi.suspend_data", "s")
    journal.mark_acked([ids[-1]])
    removed = journal.compact()
    assert removed == 4
    assert {e.id for e in journal.entries()} == {ids[-1], keep_pending}
    clock.advance(2 * 24 * 3600)
    journal.compact()
    assert {e.id for e in journal.entries()} == {keep_pending}


def test_local_entries_keep_only_latest_value(journal: Journal) -> None:
    journal.record(ORIGIN, "page:x", "cmi.location", "a", client_time=1, state="local")
    last = journal.record(ORIGIN, "page:x", "cmi.location", "b", client_time=2, state="local")
    journal.compact()
    assert [e.id for e in journal.entries()] == [last.id]
    assert journal.pending_count() == 0
    assert [e.value for e in journal.unsent()] == ["b"]


def test_rebind_moves_local_entries_to_attempt_as_pending(journal: Journal) -> None:
    journal.record(ORIGIN, "page:x", "cmi.location", "a", client_time=1, state="local")
    assert journal.rebind(ORIGIN, "page:x", A) == 1
    (entry,) = journal.pending()
    assert entry.attempt == A and entry.state == "pending"


def test_context_round_trip_latest_wins(journal: Journal, journal_path: Path, clock: Clock) -> None:
    journal.set_context(moodle_context(ORIGIN, sesskey="old"))
    journal.set_context(moodle_context(ORIGIN, sesskey="new"))
    journal.close()
    reopened = Journal(journal_path, KEY, clock=clock)
    try:
        context = reopened.context(ORIGIN, A)
        assert isinstance(context, SaveContext)
        assert context.params["sesskey"] == "new"
        assert context.endpoint == f"{ORIGIN}/mod/scorm/datamodel.php"
        assert reopened.contexts() == [context]
    finally:
        reopened.close()


def test_transaction_groups_records_and_rolls_back_on_error(journal: Journal) -> None:
    with pytest.raises(RuntimeError), journal.transaction():
        rec(journal, "cmi.a", "1")
        raise RuntimeError("boom")
    assert journal.entries() == []
    with journal.transaction():
        rec(journal, "cmi.a", "1")
        rec(journal, "cmi.b", "2")
    assert journal.pending_count() == 2


def test_bad_arguments_are_refused_with_a_message(journal: Journal, journal_path: Path) -> None:
    with pytest.raises(JournalError, match="finite"):
        journal.record(ORIGIN, A, "k", "v", client_time=float("nan"))
    with pytest.raises(JournalError, match="state"):
        journal.record(ORIGIN, A, "k", "v", client_time=1, state="weird")
    with pytest.raises(JournalError, match="too short"):
        Journal(journal_path, b"short")


def test_update_source_fields_keeps_mac_valid(
    journal: Journal, journal_path: Path, clock: Clock
) -> None:
    entry = journal.record(ORIGIN, A, "k", "v", client_time=1)
    updated = journal.update_source_fields(entry, client_time=9.5, counter=4, extra={"batch": "b"})
    journal.close()
    reopened = Journal(journal_path, KEY, clock=clock)
    try:
        assert reopened.entries() == [updated]
        assert updated.extras()["batch"] == "b" and updated.counter == 4
        assert reopened.notices == []
    finally:
        reopened.close()


def test_setting_an_already_confirmed_value_again_needs_no_delivery(journal: Journal) -> None:
    first = rec(journal, "cmi.interactions.1.id", "q2")
    journal.mark_acked([first], by_app=False)
    again = journal.record(ORIGIN, A, "cmi.interactions.1.id", "q2", client_time=2)
    assert again.state == "acked" and journal.pending() == []
    changed = journal.record(ORIGIN, A, "cmi.interactions.1.id", "q3", client_time=3)
    assert changed.state == "pending"
