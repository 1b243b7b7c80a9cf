"""Support export and the ``lockdown journal`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from keyring.backends import fail

from lockdown.commands.journal_cmd import journal_main
from lockdown.journal import keys
from lockdown.journal.errors import ExportError
from lockdown.journal.export import build_export, export_unsent, verify_export
from lockdown.journal.store import Journal
from tests.unit.journal.conftest import KEY, Clock, moodle_context

ORIGIN = "https://moodle.test"


def fill(journal: Journal) -> None:
    context = moodle_context(ORIGIN)
    journal.record(ORIGIN, context.attempt, "cmi.location", "p1", client_time=1.5, context=context)
    journal.record(ORIGIN, context.attempt, "cmi.location", "p2", client_time=2.5)
    acked = journal.record(ORIGIN, context.attempt, "cmi.suspend_data", "done", client_time=3)
    journal.mark_acked([acked.id])
    journal.record(ORIGIN, "page:zz", "cmi.comments", "unknown lms", client_time=4, state="local")


def test_export_lists_unconfirmed_latest_values_without_secrets(
    journal: Journal, tmp_path: Path
) -> None:
    fill(journal)
    document = build_export(journal, KEY, now=1_700_000_000)
    assert document["format"] == "lockdown-journal-export"
    assert document["summary"].startswith("2 answer(s)")
    first, second = document["attempts"]
    assert first["attempt"] == "moodle-scorm:5:2:1"
    assert [(a["key"], a["value"], a["state"]) for a in first["answers"]] == [
        ("cmi.location", "p2", "pending")
    ]
    assert first["answers"][0]["page_time"] == "1970-01-01T00:00:02.500Z"
    assert "sesskey" not in first["save_parameters"] and first["save_parameters"]["scoid"] == "2"
    assert second["answers"][0]["state"] == "local" and second["save_endpoint"] is None
    assert "sk1" not in json.dumps(document)


def test_export_file_verifies_and_detects_edits(
    journal: Journal, journal_path: Path, tmp_path: Path
) -> None:
    fill(journal)
    out = tmp_path / "export.json"
    summary = export_unsent(journal_path, KEY, out, now=1_700_000_000)
    assert (summary.answers, summary.attempts) == (2, 2)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert "intact" in verify_export(out) and "this computer" in verify_export(out, KEY)
    with pytest.raises(ExportError, match="HMAC"):
        verify_export(out, b"another key of sufficient length!")
    edited = json.loads(out.read_text())
    edited["attempts"][0]["answers"][0]["value"] = "forged"
    out.write_text(json.dumps(edited))
    with pytest.raises(ExportError, match="changed after it was exported"):
        verify_export(out)
    with pytest.raises(ExportError, match="already exists"):
        export_unsent(journal_path, KEY, out, now=1)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The per-user data folder, with a file key (no keyring on CI) already in place."""
    folder = tmp_path / "userdata"
    monkeypatch.setenv("LOCKDOWN_DATA_DIR", str(folder))
    monkeypatch.setattr(keys, "_default_backend", fail.Keyring)
    return folder


def test_cli_export_status_and_verify(
    data_dir: Path, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    key = keys.load_key(data_dir).secret
    journal = Journal(data_dir / "journal.sqlite3", key, clock=clock)
    fill(journal)
    journal.close()
    out = tmp_path / "for-staff.json"
    assert journal_main(["export", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 unconfirmed answer(s)" in printed and str(out) in printed
    assert journal_main(["verify", str(out)]) == 0
    assert "this computer" in capsys.readouterr().out
    assert journal_main(["status"]) == 0
    assert "2 answer(s) not confirmed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export"], "no answer journal"),
        (["verify", "/nonexistent/file.json"], "cannot be read"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert journal_main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lockdown journal: error:")
    assert message in lines[0].lower() or message in lines[0]


def test_cli_verify_of_tampered_file_is_an_error(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "lockdown-journal-export", "integrity": {"sha256": "00"}}))
    assert journal_main(["verify", str(bad)]) == 2
    assert "changed after it was exported" in capsys.readouterr().err
