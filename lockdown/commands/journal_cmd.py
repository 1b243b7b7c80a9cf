"""``lockdown journal``: support tools for the on-device answer journal (no Qt needed).

``journal export [--out FILE] [--journal PATH]`` writes a readable, integrity-checked JSON file of
the answers the server has not confirmed (see :mod:`lockdown.journal.export`) and prints its path.
``journal verify FILE`` checks such a file (SHA-256; also the HMAC when run as the same OS user on
the same computer). ``journal status [--journal PATH]`` prints how many answers wait.

Every error is one line on stderr and exit status 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from lockdown.journal.errors import JournalError
from lockdown.journal.export import default_export_name, export_unsent, verify_export
from lockdown.journal.keys import load_key
from lockdown.journal.store import Journal

EXIT_OK = 0
EXIT_ERROR = 2


class _CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _CommandError(f"{message} (see {self.prog} --help)")


def _parser() -> _Parser:
    parser = _Parser(prog="lockdown journal", description="The on-device answer journal.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    export = commands.add_parser("export", help="write unconfirmed answers to a file for staff")
    export.add_argument("--out", type=Path, help="file to write (default: a new file here)")
    export.add_argument("--journal", type=Path, help="journal file (default: this user's)")
    verify = commands.add_parser("verify", help="check an export file's integrity")
    verify.add_argument("file", type=Path)
    status = commands.add_parser("status", help="how many answers wait for the server")
    status.add_argument("--journal", type=Path, help="journal file (default: this user's)")
    return parser


def _journal_path(given: Path | None) -> Path:
    if given is not None:
        return given
    from lockdown import paths

    return paths.journal_path()


def _key_for(journal_path: Path) -> bytes:
    return load_key(journal_path.parent, create=False).secret


def journal_main(argv: list[str]) -> int:
    """Run ``lockdown journal ...``; returns the exit status (0 ok, 2 error)."""
    try:
        args = _parser().parse_args(argv)
        if args.command == "export":
            return _export(args)
        if args.command == "verify":
            return _verify(args)
        return _status(args)
    except (_CommandError, JournalError) as exc:
        print(f"lockdown journal: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _export(args: argparse.Namespace) -> int:
    now = time.time()
    journal_path = _journal_path(args.journal)
    if not journal_path.exists():
        raise _CommandError(f"There is no answer journal at {journal_path}.")
    out = args.out or Path.cwd() / default_export_name(now)
    summary = export_unsent(journal_path, _key_for(journal_path), out, now=now)
    print(
        f"Wrote {summary.answers} unconfirmed answer(s) from {summary.attempts} attempt(s)"
        f" to {summary.path}"
    )
    if summary.notices:
        print(f"Warning: {summary.notices} integrity problem(s) are listed in the file.")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    key: bytes | None
    try:
        key = _key_for(_journal_path(None))
    except JournalError:
        key = None  # another computer or user: the SHA-256 check still applies
    print(verify_export(args.file, key))
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    journal_path = _journal_path(args.journal)
    if not journal_path.exists():
        print(f"No answer journal at {journal_path}: nothing waits.")
        return EXIT_OK
    journal = Journal(journal_path, _key_for(journal_path), read_only=True)
    try:
        count = len(journal.unsent())
    finally:
        journal.close()
    print(f"{count} answer(s) not confirmed by the server ({journal_path}).")
    for notice in journal.notices:
        print(f"Warning: {notice.message}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return journal_main(list(sys.argv[1:] if argv is None else argv))
