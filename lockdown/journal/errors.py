"""Exceptions of the attempt journal, each carrying a sentence a student or support person can read.

Nothing in the journal may end in an unexplained traceback: a bad file is quarantined and
reported (see :class:`QuarantineNotice` in ``store.py``), bad page input is refused with
:class:`CaptureError`, and only conditions the app cannot work around (an unwritable data
folder) raise :class:`JournalError` to the caller.
"""

from __future__ import annotations


class JournalError(Exception):
    """The journal cannot be used at all; ``str(error)`` is a complete human sentence."""


class KeyStoreError(JournalError):
    """Neither the OS keyring nor the fallback key file can hold the journal's HMAC key."""


class CaptureError(JournalError):
    """A message from the page-side hook is malformed; it is refused, never half-recorded."""


class ExportError(JournalError):
    """The support export could not be written or verified."""
