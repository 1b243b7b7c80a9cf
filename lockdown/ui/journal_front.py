"""The attempt journal's front: in place before the first request, the journal opened on need.

The page hook must be in every page from the very first request (the start page may be the exam
itself). That is cheap. Opening the journal is not: the OS keyring, the store's HMAC checks and
the sender's HTTP stack cost about a quarter of a second on the GUI thread (where Qt 6 also runs
the request interceptor) and ~30 MiB. So :class:`JournalFront` hooks the pages and opens the
journal (:mod:`lockdown.ui.journal_bridge`) at the first message a page sends, or -- once the
start page has settled -- at once when a previous session left answers the server has not
confirmed (``journal/peek.py``), so they are resent without waiting for the student. Every
message still reaches the journal, durably, before its handler returns: the first one just opens
it first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage

from lockdown import paths
from lockdown.ui.journal_web import JournalChannel, drain_subframes, install_scripts
from lockdown.ui.journal_web import serve as serve_page

if TYPE_CHECKING:
    from lockdown.journal.capture import CaptureOutcome
    from lockdown.ui.app import Session
    from lockdown.ui.journal_bridge import JournalBridge

#: Opens this session's journal bridge (started), or None when the journal cannot be kept (it has
#: said why, in the log and the status strip).
BridgeOpener = Callable[["Session"], "JournalBridge | None"]


def open_app_bridge(session: Session) -> JournalBridge | None:
    from lockdown.ui.warmup import finished

    finished()  # the bridge's modules import ``Qt``; a page may answer while the start page loads
    from lockdown.ui.journal_bridge import open_bridge

    return open_bridge(session)


class JournalFront:
    """Hooks every page of the session and hands what they send to the journal, opened once."""

    def __init__(self, session: Session, open_journal: BridgeOpener = open_app_bridge,
                 journal_path: Path | None = None) -> None:
        self._session = session
        self._open_journal = open_journal
        self._path = journal_path or paths.journal_path()
        self._opened = False
        self.bridge: JournalBridge | None = None
        self._channels: list[tuple[QWebChannel, JournalChannel]] = []
        install_scripts(session.profile.profile)
        self.serve(session.window.page)
        session.window.popup_page_created.connect(self.serve)
        session.window.set_pending_answers(self.pending_for_quit)

    def open(self) -> JournalBridge | None:
        """The journal bridge, opened (once) now if it is not yet."""
        if not self._opened:
            self._opened = True
            self.bridge = self._open_journal(self._session)
        return self.bridge

    def open_if_pending(self) -> None:
        """A previous session's unconfirmed answers are resent without waiting for a page."""
        from lockdown.journal.peek import may_have_pending  # sqlite3: not before the first page

        if not self._opened and may_have_pending(self._path):
            self.open()

    def close(self) -> None:
        """End of session: a page still talking while it ends opens nothing (a journal opened
        now would start a sender after the session's cleanups ran)."""
        self._opened = True
        if self.bridge is not None:
            self.bridge.close()

    # -- pages --------------------------------------------------------------------------------
    def serve(self, page: QWebEnginePage) -> None:
        """Give a page (the main one, each popup) the channel to the journal."""
        channel, endpoint = serve_page(page, self.handle_payload, self.drain_subframes)
        self._channels.append((channel, endpoint))
        page.destroyed.connect(lambda *_: self._forget(channel))

    def _forget(self, channel: QWebChannel) -> None:
        self._channels = [c for c in self._channels if c[0] is not channel]

    def handle_payload(self, frame_url: str, payload: str) -> CaptureOutcome | None:
        """One hook message from the frame at ``frame_url``; durable when this returns."""
        bridge = self.open()
        return bridge.handle_payload(frame_url, payload) if bridge is not None else None

    def drain_subframes(self, page: QWebEnginePage) -> None:
        """Collect entries that subframes keep in their isolated world (no channel there)."""
        drain_subframes(page, self.handle_payload)

    # -- quitting -------------------------------------------------------------------------------
    def pending_for_quit(self) -> int:
        """Answers not on the server yet, for the quit prompt (opens the journal only if some
        may be waiting)."""
        self.open_if_pending()
        return self.bridge.pending_for_quit() if self.bridge is not None else 0


def install(session: Session) -> Callable[[], None]:
    """The session integration: hooks now, the journal when needed (see the module doc)."""
    front = JournalFront(session)
    session.window.start_page_settled.connect(front.open_if_pending)
    return front.close
