"""Support export: a readable, integrity-checked JSON file of answers the server has not confirmed.

Staff run ``python -m lockdown journal export`` on the student's computer (as the student's OS
user) when answers could not be delivered, and attach the file to the attempt by hand. The file:

* lists, per attempt, the latest value of every key that is ``pending`` (not yet confirmed) or
  ``local`` (no save endpoint known), with the page's time, in journal order;
* never contains session secrets (Moodle's ``sesskey`` is left out of the save endpoint details);
* ends with ``integrity``: a SHA-256 over the canonical JSON of everything else (anyone can check
  the file was not edited, ``python -m lockdown journal verify FILE``) and an HMAC-SHA256 with the
  journal key (proves the file came from this computer's journal, for whoever holds that key).

The journal is opened read-only: exporting never moves, changes or deletes anything.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import json
import os
import platform
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockdown.journal.errors import ExportError, JournalError
from lockdown.journal.store import Entry, Journal

FORMAT = "lockdown-journal-export"
VERSION = 1
SECRET_PARAMS = frozenset({"sesskey"})


@dataclass(frozen=True)
class ExportSummary:
    """What was written, for the command's one-line report."""

    path: Path
    answers: int
    attempts: int
    notices: int


def _iso(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes the integrity digests cover: sorted keys, no whitespace, UTF-8."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def build_export(journal: Journal, key: bytes, *, now: float) -> dict[str, Any]:
    """The export document for ``journal`` (integrity block included)."""
    attempts: dict[tuple[str, str], list[Entry]] = {}
    for entry in journal.unsent():
        attempts.setdefault((entry.origin, entry.attempt), []).append(entry)
    listed: list[dict[str, Any]] = []
    for (origin, attempt), entries in attempts.items():
        context = journal.context(origin, attempt)
        listed.append(
            {
                "origin": origin,
                "attempt": attempt,
                "save_endpoint": context.endpoint if context else None,
                "save_parameters": (
                    {k: v for k, v in context.params.items() if k not in SECRET_PARAMS}
                    if context
                    else {}
                ),
                "page": context.page_url if context else None,
                "answers": [
                    {
                        "key": e.key,
                        "value": e.value,
                        "page_time": _iso(e.client_time),
                        "recorded": _iso(e.recorded_at),
                        "counter": e.counter,
                        "state": e.state,
                        "journal_id": e.id,
                    }
                    for e in entries
                ],
            }
        )
    count = sum(len(a["answers"]) for a in listed)
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created": _iso(now),
        "os_user": _user(),
        "computer": socket.gethostname() or platform.node(),
        "journal": str(journal.path),
        "summary": f"{count} answer(s) not confirmed by the server, in {len(listed)} attempt(s)",
        "attempts": listed,
        "integrity_problems": [n.message for n in journal.notices],
    }
    body = canonical(document)
    document["integrity"] = {
        "sha256": hashlib.sha256(body).hexdigest(),
        "hmac_sha256": hmac.new(key, body, hashlib.sha256).hexdigest(),
        "covers": "canonical JSON (sorted keys, no spaces, UTF-8) of all other fields",
    }
    return document


def export_unsent(journal_path: Path, key: bytes, out: Path, *, now: float) -> ExportSummary:
    """Write the export file (mode 0600); raises :class:`ExportError` with a readable reason."""
    try:
        journal = Journal(journal_path, key, read_only=True)
    except JournalError as exc:
        raise ExportError(str(exc)) from None
    try:
        document = build_export(journal, key, now=now)
    finally:
        journal.close()
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(out, flags, 0o600)
    except FileExistsError:
        raise ExportError(f"{out} already exists; choose another file with --out.") from None
    except OSError as exc:
        raise ExportError(f"{out} cannot be created: {exc.strerror or exc}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            out.unlink()
        raise ExportError(f"{out} cannot be written: {exc.strerror or exc}.") from None
    answers = sum(len(a["answers"]) for a in document["attempts"])
    return ExportSummary(out, answers, len(document["attempts"]), len(journal.notices))


def verify_export(path: Path, key: bytes | None = None) -> str:
    """Check an export file; returns a one-line verdict or raises :class:`ExportError`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} cannot be read: {exc}.") from None
    except ValueError:
        raise ExportError(f"{path} is not JSON: it is damaged or not an export.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ExportError(f"{path} is not a lockdown journal export.")
    integrity = document.pop("integrity", None)
    if not isinstance(integrity, dict) or not isinstance(integrity.get("sha256"), str):
        raise ExportError(f"{path} has no integrity block; it cannot be trusted.")
    body = canonical(document)
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), integrity["sha256"]):
        raise ExportError(f"{path} was changed after it was exported (SHA-256 mismatch).")
    if key is not None:
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(integrity.get("hmac_sha256", ""))):
            raise ExportError(f"{path} was not exported from this computer's journal (HMAC).")
        return f"{path}: intact, and exported from this computer's journal. {document['summary']}"
    return f"{path}: intact (SHA-256 verified). {document['summary']}"


def default_export_name(now: float) -> str:
    stamp = datetime.datetime.fromtimestamp(now, tz=datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    safe_user = "".join(c if c.isalnum() or c in "-_" else "_" for c in _user())
    return f"lockdown-unsent-answers-{safe_user}-{stamp}.json"


def _user() -> str:
    from lockdown.journal.keys import current_user

    return current_user()
