"""Wires the attempt journal (``lockdown.journal``) into a running session.

:mod:`lockdown.ui.journal_front` hooks the pages before the first request and calls
:func:`open_bridge` when the journal is first needed. It opens this OS user's journal (quarantine
notices are shown and logged), feeds what the hook sees to
:class:`~lockdown.journal.capture.Capture` (durable before the handler returns), runs the
:class:`~lockdown.journal.sender.Sender` with cookies mirrored from the WebEngine cookie store (and,
for a session restored from disk, its cookie database), shows the "not saved yet" banner, and tells
the quit flow how many answers wait.

Opened elsewhere. When the LMS gives the attempt to a newer window or device -- the Numbas
provider says so on its websocket (``current_uid`` differs from this window's ``uid``), the demo
site answers HTTP 409 -- the attempt's answers still waiting here are never resent (they could
overwrite newer ones), a dark red banner says so, and they stay on this device for the support
export. A later successful save from this window lifts that.

Worlds and trust. The hook (``resources/js/journal_hook.js``) must wrap the page's own
``API_1484_11``/``API`` objects, so it runs in the MainWorld, where the page can also call
``window.__lockdownRecord`` itself. Everything else runs in an isolated world (ApplicationWorld)
the page cannot see: ``qwebchannel.js``, the ``QWebChannel`` transport and the forwarding code.
MainWorld hands entries over as JSON strings in a DOM event; the isolated world adds the frame's
URL as *it* sees it (the page cannot change the isolated world's ``location``) and Python checks
that the entry claims that same origin. Qt offers the channel transport in main frames only, so a
subframe keeps its entries in its isolated world and pings the top frame; Python then collects
them frame by frame (``QWebEngineFrame.runJavaScript``) and takes each frame's URL from Qt. A page
can thus only ever add journal entries for its own origin, and a save endpoint on another origin is
never used (``Capture``/``Sender`` enforce that).

Log events (JSON with ``--log-format json``): ``journal.recorded`` (debug),
``journal.acknowledged``, ``journal.pending`` (count changed), ``journal.banner`` (shown/hidden),
``journal.kicked``, ``journal.refused``, ``journal.quarantined`` (from the journal),
``sender.state``.
"""

from __future__ import annotations

import http.cookiejar
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from lockdown import log, paths
from lockdown.journal.capture import Capture, CaptureOutcome
from lockdown.journal.errors import CaptureError, JournalError
from lockdown.journal.keys import load_key
from lockdown.journal.replay import (
    NUMBAS_FALLBACK_RE,
    Ack,
    ReplayAdapter,
    ReplayRequest,
    ReplayResponse,
    adapters_by_name,
    numbas_attempt_id,
)
from lockdown.journal.sender import Backoff, Sender, SenderState
from lockdown.journal.store import Entry, Journal, SaveContext, origin_of
from lockdown.policy.decide import Kind
from lockdown.ui.banner import (
    AMBER,
    DARK_RED,
    RED,
    Banner,
    kicked_text,
    place_above_page,
    unsaved_text,
)

if TYPE_CHECKING:
    from lockdown.ui.app import Session

DEBUG, WARNING, ERROR = 10, 30, 40
MAX_MESSAGE = 20 * 1024 * 1024  # Capture allows 16 MiB values; JSON adds quoting
MAX_REFUSALS_LOGGED = 50
#: HTTP 409 from a save endpoint: the attempt was opened in a newer window (the demo site, as the
#: Numbas provider does over its websocket).
KICKED_STATUS = 409
COOKIE_SETTLE_MS = 400
BANNER_TICK_MS = 1000
COMPACT_EVERY_MS = 30_000
QUIT_FLUSH_MS = 2000
QUIT_POLL_MS = 25


@dataclass(frozen=True)
class SenderOptions:
    """Timing of the store-and-forward sender (tests shorten them)."""

    grace_s: float = 10.0
    poll_s: float = 5.0
    timeout_s: float = 15.0
    backoff: Backoff = field(default_factory=Backoff)


def browserless_session() -> requests.Session:
    """The sender's HTTP session. It keeps no cookies of its own: a login redirect's guest cookie
    must never stand in for the browser's session."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


# -- kicked-out attempts -----------------------------------------------------------------------
class _WatchedAdapter:
    """A replay adapter that also reports what the bridge must know: an attempt the server says is
    open elsewhere (HTTP 409) and confirmed resends (for the ``journal.acknowledged`` log)."""

    def __init__(
        self,
        inner: ReplayAdapter,
        on_kicked: Callable[[str], None],
        on_acked: Callable[[int], None],
    ) -> None:
        self._inner = inner
        self.name = inner.name
        self._on_kicked = on_kicked
        self._on_acked = on_acked

    def matches(self, url: str) -> bool:
        return self._inner.matches(url)

    def build_request(
        self, entries: Sequence[Entry], context: SaveContext, cookies: Mapping[str, str]
    ) -> ReplayRequest:
        return self._inner.build_request(entries, context, cookies)

    def is_ack(self, response: ReplayResponse, request: ReplayRequest) -> Ack:
        if response.status == KICKED_STATUS:
            self._on_kicked(request.url)
            return Ack(False, "the attempt was opened in another window or on another device")
        ack = self._inner.is_ack(response, request)
        if ack:
            self._on_acked(len(request.entry_ids) - len(ack.not_saved))
        return ack


class _Kicked:
    """Attempts the LMS has given to another window: never resent from here (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: set[tuple[str, str]] = set()
        self._endpoints: set[str] = set()

    def add(self, origin: str, attempt: str, endpoint: str | None) -> bool:
        with self._lock:
            new = (origin, attempt) not in self._attempts
            self._attempts.add((origin, attempt))
            if endpoint:
                self._endpoints.add(endpoint)
            return new

    def discard(self, origin: str, attempt: str, endpoint: str | None) -> bool:
        with self._lock:
            known = (origin, attempt) in self._attempts
            self._attempts.discard((origin, attempt))
            if endpoint:
                self._endpoints.discard(endpoint)
            return known

    def blocks(self, url: str) -> bool:
        with self._lock:
            if url in self._endpoints:
                return True
            match = NUMBAS_FALLBACK_RE.match(urlsplit(url).path)
            if match is None:
                return False
            return (origin_of(url), numbas_attempt_id(match["pk"])) in self._attempts

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._attempts)


# -- the bridge --------------------------------------------------------------------------------
class JournalBridge(QObject):
    """One session's journal, capture, sender, banners and quit count. Lives on the UI thread."""

    #: From the sender thread (queued to the UI thread by Qt).
    sender_state = Signal(object)
    endpoint_kicked = Signal(str)
    resend_acked = Signal(int)

    def __init__(
        self,
        session: Session,
        journal: Journal,
        *,
        options: SenderOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        options = options or SenderOptions()
        self.session = session
        self.journal = journal
        self._clock = clock
        self._delay_s = float(session.policy.unsaved_banner_delay_s)
        self._kicked = _Kicked()
        self._refusals = 0
        self._pending = -1
        self._oldest: float | None = None
        self._online = True
        self._seen = False
        self._acked_since_compact = False
        self._closed = False
        self._user_agent = session.profile.profile.httpUserAgent()
        self._providers = session.profile.interceptor.header_providers
        self.cookies = session.cookies
        self._http = browserless_session()
        watched: list[ReplayAdapter] = [
            _WatchedAdapter(a, self.endpoint_kicked.emit, self.resend_acked.emit)
            for a in adapters_by_name()
        ]
        self.resender = Sender(
            journal,
            self.cookies.for_url,
            adapters=watched,
            headers=self._headers,
            allow_url=self._allow_url,
            on_state=self.sender_state.emit,
            session=self._http,
            timeout_s=options.timeout_s,
            grace_s=options.grace_s,
            poll_s=options.poll_s,
            backoff=options.backoff,
            clock=clock,
        )
        self.capture = Capture(journal, on_urgent=self.resender.nudge, clock=clock)
        self.sender_state.connect(self._on_sender_state)
        self.endpoint_kicked.connect(self._on_endpoint_kicked)
        self.resend_acked.connect(self._on_resend_acked)
        self.unsaved_banner = Banner("unsavedBanner", RED)
        self.kicked_banner = Banner("kickedBanner", DARK_RED)
        self.notice_banner = Banner("journalNoticeBanner", AMBER, closable=True)
        self._ticker = QTimer(self)
        self._ticker.setInterval(BANNER_TICK_MS)
        self._ticker.timeout.connect(self._tick)
        self._compactor = QTimer(self)
        self._compactor.setInterval(COMPACT_EVERY_MS)
        self._compactor.timeout.connect(self._compact)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Show what the journal found, then start resending (after the cookie store has loaded:
        a resend of a previous session's answers needs the session cookie)."""
        place_above_page(self.session.window, self.kicked_banner, self.unsaved_banner,
                         self.notice_banner)
        self._show_notices()
        self._refresh(recount=True)
        self._ticker.start()
        self._compactor.start()
        QTimer.singleShot(COOKIE_SETTLE_MS, self._start_sender)

    def _start_sender(self) -> None:
        if self.resender.is_alive() or self._closed:
            return
        log.event("journal.sender_started", "resending answers the server has not confirmed",
                  cookies=self.cookies.count, pending=self.pending_count())
        self.resender.start()
        self.resender.nudge(everything=True)  # a previous session's answers go at once

    def close(self) -> None:
        """Stop resending (bounded wait) and close the journal file."""
        if self._closed:
            return
        self._closed = True
        self._ticker.stop()
        self._compactor.stop()
        self.resender.stop(timeout_s=3.0)
        if not self.resender.is_alive():  # never close the file under a request still running
            self.journal.close()
            self._http.close()

    # -- messages from pages ----------------------------------------------------------------
    def handle_payload(self, frame_url: str, payload: str) -> CaptureOutcome | None:
        """One hook message (JSON) from the frame at ``frame_url`` (as the frame itself or Qt
        sees it, never as the message claims). Durable when this returns."""
        if self._closed:  # a page still talking while the session ends
            return None
        if len(payload) > MAX_MESSAGE:
            self._refuse(frame_url, f"message too large ({len(payload)} characters)")
            return None
        try:
            message = json.loads(payload)
        except ValueError:
            self._refuse(frame_url, "message is not JSON")
            return None
        if not isinstance(message, dict):
            self._refuse(frame_url, "message is not an object")
            return None
        try:
            if message.get("type") == "kicked":
                self._page_kicked(frame_url, message)
                return None
            outcome = self.capture.handle(message, source_url=frame_url)
            self._after(frame_url, message, outcome)
        except CaptureError as exc:
            self._refuse(frame_url, str(exc))
            return None
        except JournalError as exc:
            self._failed(exc)
            return None
        return outcome

    def _after(self, frame_url: str, message: Mapping[str, Any], outcome: CaptureOutcome) -> None:
        origin = origin_of(frame_url)
        if outcome.recorded:
            self._seen = True
            log.event("journal.recorded", "answer kept on this device", level=DEBUG,
                      kind=outcome.kind, attempt=outcome.attempt, count=outcome.recorded)
        if outcome.acked:
            self._acked_since_compact = True
            log.event("journal.acknowledged", "the server confirmed the page's save",
                      source="page", attempt=outcome.attempt, count=outcome.acked)
        if outcome.kind == "save-result" and outcome.attempt:
            context = self.journal.context(origin, outcome.attempt)
            endpoint = context.endpoint if context else None
            status = message.get("status")
            answer = str(message.get("response") or "").replace("\r\n", "\n").split("\n")[0]
            if status == KICKED_STATUS:
                self._kick(origin, outcome.attempt, endpoint, "page")
            elif status == 200 and answer.strip() == "true":
                # The page's own save works again: this window is current, the network is back.
                if self._kicked.discard(origin, outcome.attempt, endpoint):
                    log.event("journal.resumed", "the attempt saves from this window again",
                              origin=origin, attempt=outcome.attempt)
                if not self._online or self._pending > 0:
                    self.resender.nudge()
        self._show_notices()
        self._refresh()

    def _page_kicked(self, frame_url: str, message: Mapping[str, Any]) -> None:
        pk, url = message.get("attempt"), message.get("url")
        origin = origin_of(frame_url)
        if not (isinstance(pk, str) and pk.isdigit() and len(pk) <= 18):
            raise CaptureError("A 'kicked' message needs the attempt number.")
        if not isinstance(url, str) or origin_of(url) != origin:
            raise CaptureError("The journal hook message names another origin than its frame.")
        attempt = numbas_attempt_id(pk)
        context = self.journal.context(origin, attempt)
        self._kick(origin, attempt, context.endpoint if context else None, "page")

    def _refuse(self, frame_url: str, reason: str) -> None:
        self._refusals += 1
        if self._refusals <= MAX_REFUSALS_LOGGED:
            log.event("journal.refused", f"journal hook message refused: {reason}", level=WARNING,
                      origin=origin_of(frame_url), reason=reason[:300])
        if self._refusals == MAX_REFUSALS_LOGGED:
            log.event("journal.refused", "further refused messages are not logged", level=WARNING)

    def _failed(self, exc: JournalError) -> None:
        log.event("journal.error", str(exc), level=ERROR, error=str(exc))
        self.session.window.status.save_state.setText("⚠ Answers cannot be kept on this device")
        self.notice_banner.say(str(exc))

    # -- kicked out -------------------------------------------------------------------------
    def _kick(self, origin: str, attempt: str, endpoint: str | None, source: str) -> None:
        if self._kicked.add(origin, attempt, endpoint):
            log.event("journal.kicked", "the attempt was opened in another window or on another"
                      " device; answers entered here are kept on this device and not resent",
                      level=WARNING, origin=origin, attempt=attempt, source=source)
        self._refresh()

    def _on_endpoint_kicked(self, endpoint: str) -> None:
        if self._closed:
            return
        origin = origin_of(endpoint)
        try:
            attempts = [c.attempt for c in self.journal.contexts() if c.endpoint == endpoint]
        except JournalError as exc:
            self._failed(exc)
            return
        for attempt in attempts or [endpoint]:
            self._kick(origin, attempt, endpoint, "resend")

    # -- the sender -------------------------------------------------------------------------
    def _allow_url(self, url: str) -> bool:
        """Sender thread: never to a host the policy blocks, never for a kicked attempt."""
        if self._kicked.blocks(url):
            return False
        return self.session.decider.request(url, kind=Kind.SUBRESOURCE).allowed

    def _headers(self, url: str) -> dict[str, str]:
        """Sender thread: the browser's user agent and the features' headers (Numbas token)."""
        headers = {"User-Agent": self._user_agent}
        for provider in list(self._providers):
            try:
                headers.update(provider(url))
            except Exception as exc:  # a feature's bug must not stop resending
                log.event("journal.header_error", str(exc), level=WARNING, error=str(exc))
        return headers

    def _on_sender_state(self, state: SenderState) -> None:
        self._online = state.online
        log.event("sender.state", "answer resend state", online=state.online,
                  pending=state.pending, blocked=state.blocked, error=state.last_error)
        self._show_notices()
        self._refresh(recount=True)

    def _on_resend_acked(self, count: int) -> None:
        self._acked_since_compact = True
        log.event("journal.acknowledged", "the server confirmed answers the app resent",
                  source="resend", count=count)

    def _compact(self) -> None:
        if not self._acked_since_compact or self._closed:
            return
        self._acked_since_compact = False
        try:
            self.journal.compact()
        except JournalError as exc:
            self._failed(exc)

    # -- what the student sees --------------------------------------------------------------
    def pending_count(self) -> int:
        return max(self._pending, 0)

    def pending_for_quit(self) -> int:
        """The quit flow asks this: try to send everything first (bounded), then count."""
        if self._closed:
            return max(self._pending, 0)
        try:
            if self.journal.pending_count() and not self._kicked:
                self.resender.nudge(everything=True)
                loop = QEventLoop()
                # Answers get confirmed by the sender or by the page's own save (a message, no
                # sender state): look at the journal itself, so quitting waits no longer than
                # the confirmations take.
                def confirmed() -> None:
                    if self.journal.pending_count() == 0:
                        loop.quit()

                poll = QTimer()
                poll.setInterval(QUIT_POLL_MS)
                poll.timeout.connect(confirmed)
                poll.start()
                QTimer.singleShot(QUIT_FLUSH_MS, loop.quit)
                loop.exec()
                poll.stop()
            count = self.journal.pending_count()
        except JournalError as exc:
            self._failed(exc)
            return 0
        log.event("journal.pending", "answers not confirmed by the server at quit", count=count,
                  quitting=True)
        return count

    def _refresh(self, *, recount: bool = False) -> None:
        if self._closed:  # a queued sender state arriving after the session ended
            return
        try:
            count = self.journal.pending_count()
            if count != self._pending or recount:
                if count != self._pending:
                    log.event("journal.pending", f"{count} answer(s) not confirmed by the server",
                              count=count)
                self._pending = count
                pending = self.journal.pending() if count else []
                self._oldest = min((e.recorded_at for e in pending), default=None)
        except JournalError as exc:
            self._failed(exc)
            return
        self._update_banners()

    def _tick(self) -> None:
        """Once a second: the banner delay runs out, and acknowledgements the sender made without
        a state change (its state only reports changes) show up."""
        if self._pending != 0 and not self._closed:
            self._refresh()
        else:
            self._update_banners()

    def _update_banners(self) -> None:
        count = max(self._pending, 0)
        kicked = bool(self._kicked)
        self.kicked_banner.say(kicked_text(count) if kicked else None)
        waited = self._oldest is not None and self._clock() - self._oldest >= self._delay_s
        unsaved = unsaved_text(count) if count and waited and not kicked else None
        was_visible = self.unsaved_banner.text is not None
        self.unsaved_banner.say(unsaved)
        if was_visible != (unsaved is not None):
            log.event("journal.banner", "unsaved-answers banner " + ("shown" if unsaved else
                      "hidden"), visible=unsaved is not None, pending=count)
        self._set_label(self.session.window.status.save_state, self._status_text(count, kicked))

    @staticmethod
    def _set_label(label: QLabel, text: str) -> None:
        # Only on change: this runs once a second, and every call of a void Qt method from
        # Python 3.11 with PySide6 6.12 drops a reference to None (see the report to the lead).
        if label.text() != text:
            label.setText(text)

    def _status_text(self, count: int, kicked: bool) -> str:
        if kicked:
            return "● Attempt open elsewhere"
        if count:
            where = "saving…" if self._online else "kept on this device"
            return f"● {count} answer(s) not on the server yet — {where}"
        return "✓ Answers saved" if self._seen else ""

    def _show_notices(self) -> None:
        if self._closed:
            return
        notices = self.journal.take_notices()
        if notices:
            text = " ".join(n.message for n in notices)
            self.notice_banner.say(text)
            self.session.window.status.message.setText("Some saved answers could not be verified.")
            log.event("journal.notice_shown", text, level=WARNING, count=len(notices))


def open_bridge(session: Session) -> JournalBridge | None:
    """This OS user's journal, started; or None with a clear warning (log and status strip)."""
    try:
        key = load_key(paths.data_dir())
        journal = Journal(paths.journal_path(), key.secret)
    except JournalError as exc:
        log.event("journal.unavailable", f"answers cannot be kept on this device: {exc}",
                  level=ERROR, error=str(exc))
        session.window.status.save_state.setText("⚠ Answers are not kept on this device")
        session.window.status.message.setText(str(exc))
        return None
    log.event("journal.opened", "answer journal opened", path=str(journal.path),
              key=key.source, pending=journal.pending_count())
    bridge = JournalBridge(session, journal)
    try:
        bridge.start()
    except JournalError as exc:
        bridge.close()
        log.event("journal.unavailable", str(exc), level=ERROR, error=str(exc))
        return None
    return bridge
