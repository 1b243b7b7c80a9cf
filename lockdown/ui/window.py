"""The kiosk window: one fullscreen frameless view, a thin progress bar and a status strip.

No address bar, no tabs. The status strip shows the institution host, the connection and save
state, downloads (staff pages only) and the Quit button.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtWebEngineCore import QWebEnginePage
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from lockdown import log
from lockdown.policy.decide import Decider, Decision, Kind
from lockdown.ui.downloads import DownloadManager
from lockdown.ui.internal_pages import blocked_page_url
from lockdown.ui.page import ExamPage
from lockdown.ui.profile import ExamProfile

if TYPE_CHECKING:  # PySide6 builds each class's Python enums at its first import: not at start
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QCloseEvent

    from lockdown.ui.keys import KeyAction, KeyFilter

#: How long work that waits for the start page (see ``KioskWindow.start_page_settled``) waits
#: at most, e.g. when the network is down at start.
START_GRACE_MS = 3000
#: After the start page's load event, how long that work still waits: the page's own onload
#: requests (which Qt 6 routes through the interceptor on the GUI thread) go first.
SETTLE_AFTER_LOAD_MS = 300
ZOOM_STEPS = (0.5, 0.67, 0.75, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
_EDIT_ACTIONS = (
    ("Cut", QWebEnginePage.WebAction.Cut),
    ("Copy", QWebEnginePage.WebAction.Copy),
    ("Paste", QWebEnginePage.WebAction.Paste),
)


def _later(slot: Callable[..., object]) -> Callable[..., None]:
    """``slot`` run from the event loop, as a queued connection would (without PySide6's costly
    ``Qt`` namespace on the way to the first page)."""
    return lambda *args: QTimer.singleShot(0, functools.partial(slot, *args))


class StatusStrip(QWidget):
    """Host, connection, save state, downloads and Quit — the only chrome the student sees."""

    def __init__(self, host: str, on_quit: Callable[[], None], allow_quit: bool) -> None:
        super().__init__()
        self.setObjectName("statusStrip")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 2)
        self.host = QLabel(host)
        self.host.setObjectName("hostLabel")
        self.connection = QLabel("Connecting…")
        self.connection.setObjectName("connectionLabel")
        self.save_state = QLabel("")
        self.save_state.setObjectName("saveLabel")
        self.message = QLabel("")
        self.message.setObjectName("messageLabel")
        self.downloads = QPushButton("Downloads")
        self.downloads.setObjectName("downloadsButton")
        self.downloads.setVisible(False)
        self.quit = QPushButton("Quit")
        self.quit.setObjectName("quitButton")
        self.quit.setVisible(allow_quit)
        self.quit.clicked.connect(on_quit)
        for widget in (self.host, self.connection, self.save_state):
            layout.addWidget(widget)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.downloads)
        layout.addWidget(self.quit)


class KioskWindow(QWidget):
    """The exam window. ``end_session`` is the only way out; closing asks the quit policy."""

    #: A popup window got its own page (integrations that serve pages, e.g. the journal bridge).
    popup_page_created = Signal(QWebEnginePage)
    #: Once per session: the start page has loaded (and SETTLE_AFTER_LOAD_MS passed), or
    #: START_GRACE_MS passed without it, and the window is shown. Work
    #: that can wait (environment checks, opening the attempt journal) waits for this: Qt 6 runs
    #: the request interceptor on the GUI thread, so anything done there first delays the page.
    start_page_settled = Signal()

    def __init__(self, exam_profile: ExamProfile, decider: Decider, downloads: DownloadManager,
                 host_label: str, pending_answers: Callable[[], int] = lambda: 0, *,
                 defer_kiosk: bool = False) -> None:
        """``defer_kiosk``: the caller runs :meth:`make_kiosk` later, once the start page is
        loading (see there); otherwise it runs here."""
        super().__init__()
        self.setWindowTitle("lockdown exam browser")
        self._decider = decider
        self._policy = decider.policy
        self._ending = False
        self._settled = False
        self._settle_when_shown = False  # the start page loaded before the window was shown
        self._pending_answers = pending_answers
        self.key_filter: KeyFilter | None = None
        self.view = QWebEngineView(self)
        self.page = ExamPage(exam_profile.profile, decider, self.view)
        self.view.setPage(self.page)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.setAcceptDrops(False)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("pageProgress")
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(3)
        self.progress.setRange(0, 100)
        self.status = StatusStrip(host_label, self.request_quit, self._policy.allow_quit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.progress)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.status)
        self._downloads = downloads
        downloads.changed.connect(self._downloads_changed)
        self.status.downloads.clicked.connect(self._show_downloads)
        # A tick later: loading a page from inside acceptNavigationRequest/interceptRequest
        # re-enters Chromium's navigation code and aborts the process (SIGTRAP).
        self.page.navigation_blocked.connect(_later(self.show_blocked))
        exam_profile.signals.blocked.connect(_later(self._request_blocked))
        self.page.quit_url_reached.connect(_later(lambda: self.end_session("quit-url")))
        self.page.popup_requested.connect(_later(self._open_popup))
        self.page.printRequested.connect(self._print_requested)
        self.page.loadStarted.connect(self._load_started)
        self.page.loadProgress.connect(self.progress.setValue)
        self.page.loadFinished.connect(self._load_finished)
        self.page.loadFinished.connect(
            lambda _ok: QTimer.singleShot(SETTLE_AFTER_LOAD_MS, self._settle))
        self.page.urlChanged.connect(self._url_changed)
        self.page.titleChanged.connect(
            lambda title: log.event("title.changed", "page title", title=title[:200]))
        self._popups: list[QWebEngineView] = []
        self.fit_to_screen()
        if not defer_kiosk:
            self.make_kiosk()

    def fit_to_screen(self) -> None:
        """The window's fullscreen size, and its view's, even while hidden: the start page is then
        laid out at its final size from the start. Sized only when shown, the page had to be
        laid out and painted again mid-load (10-15 ms on the start page's load event)."""
        self.setGeometry(self.screen().geometry())
        layout = self.layout()
        if layout is not None:
            layout.activate()

    def make_kiosk(self) -> KeyFilter:
        """Frameless and on top, the key filter, the edit-only context menu: before the window
        is shown. The app runs this once the start page is loading and :mod:`lockdown.ui.warmup`
        has created PySide6's ``Qt`` namespace (~90 Python enums, ~15 ms). Returns the key
        filter."""
        if self.key_filter is not None:
            return self.key_filter
        from lockdown.ui.keys import KeyFilter
        from lockdown.ui.warmup import qt_namespace

        Qt = qt_namespace()
        self.setWindowFlags(Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint
                            | Qt.WindowType.WindowStaysOnTopHint)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.key_filter = KeyFilter(self.handle_key)
        self.key_filter.watch(self)
        return self.key_filter

    def show_kiosk(self) -> None:
        """Fullscreen on the current screen; sized to it first, since without a window manager
        (a bare X session, Xvfb) nobody applies the fullscreen state for us."""
        if self._ending:
            return  # ended before it was shown (a signal right at start): stays hidden
        self.make_kiosk()
        self.fit_to_screen()
        self.showFullScreen()
        self.view.setFocus()  # keys go to the page from the first moment
        QTimer.singleShot(START_GRACE_MS, self._settle)
        if self._settle_when_shown:
            self._settle()

    def _settle(self, *_: object) -> None:
        if self._settled or self._ending:
            return
        if self.isHidden():  # what waits for this (environment checks) needs the window
            self._settle_when_shown = True
            return
        self._settled = True
        self.start_page_settled.emit()

    # -- navigation -------------------------------------------------------------------------
    def load(self, url: str) -> None:
        """App-initiated loads obey the policy too (Chromium would show view-source: for us)."""
        decision = self._decider.navigation(url, main_frame=True)
        if not decision.allowed:
            log.event("navigation.blocked", "blocked navigation", level=30, url=decision.url,
                      reason=decision.reason, rule=decision.rule, main_frame=True, type="app")
            self.show_blocked(decision)
            return
        self.view.load(QUrl(url))

    def _url_changed(self, url: QUrl) -> None:
        """Last line of defence: a committed URL outside http(s)/lockdown: is torn down."""
        if url.scheme() in ("http", "https", "lockdown") or url.isEmpty():
            return
        raw = url.toString(QUrl.ComponentFormattingOption.FullyEncoded)
        if url.scheme() == "about" and raw == "about:blank":
            return
        decision = self._decider.navigation(raw, main_frame=True)
        if not decision.allowed:
            self.view.stop()
            log.event("navigation.blocked", "blocked committed URL", level=30, url=decision.url,
                      reason=decision.reason, rule=decision.rule, main_frame=True, type="commit")
            self.show_blocked(decision)

    def show_blocked(self, decision: Decision) -> None:
        self.status.message.setText(f"Blocked: {decision.reason}")
        self.view.load(blocked_page_url(decision))

    def _request_blocked(self, decision: Decision) -> None:
        # A main-frame request refused by the interceptor (e.g. a redirect hop): same page.
        if decision.kind is Kind.MAIN_FRAME:
            self.show_blocked(decision)

    def _open_popup(self, url: QUrl) -> None:
        if self._policy.popups == "same_window":
            self.view.load(url)
            return
        from lockdown.ui.warmup import qt_namespace

        Qt = qt_namespace()  # a page may open a popup while the start page still loads
        popup = QWebEngineView()
        popup.setPage(ExamPage(self.page.profile(), self._decider, popup))
        self.popup_page_created.emit(popup.page())
        popup.setWindowFlags(Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        popup.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        popup.destroyed.connect(lambda: self._forget_popup(popup))
        popup.resize(self.width() * 3 // 4, self.height() * 3 // 4)
        self.make_kiosk().watch(popup)  # (made long before a page can open a popup)
        popup.load(url)
        popup.show()
        self._popups.append(popup)

    def _forget_popup(self, popup: QWebEngineView) -> None:
        if popup in self._popups:
            self._popups.remove(popup)

    def _load_started(self) -> None:
        self.progress.setVisible(True)
        self.progress.setValue(0)

    def _load_finished(self, ok: bool) -> None:
        self.progress.setVisible(False)
        url = self.page.url().toString()
        if ok:
            self.status.connection.setText("● Online")
            log.event("page.loaded", "page loaded", url=url, title=self.page.title())
        elif not url.startswith("lockdown:"):
            self.status.connection.setText("● Page did not load")
            log.event("page.failed", "page failed to load", level=30, url=url)

    # -- keys and menus ---------------------------------------------------------------------
    def _page_url(self) -> str:
        return self.page.url().toString(QUrl.ComponentFormattingOption.FullyEncoded)

    def _print_requested(self) -> None:
        """The page called ``window.print()``: the print policy decides, as for Ctrl+P."""
        self._print(self._page_url())

    def handle_key(self, action: KeyAction) -> None:
        from lockdown.ui.keys import KeyAction

        url = self._page_url()
        effective = self._policy.for_url(url)
        if action is KeyAction.RELOAD and effective.allow_reload:
            self.view.reload()
        elif action in (KeyAction.ZOOM_IN, KeyAction.ZOOM_OUT, KeyAction.ZOOM_RESET):
            if effective.allow_zoom:
                self._zoom(action)
        elif action is KeyAction.PRINT:
            self._print(url)
        elif action is KeyAction.QUIT:
            self.request_quit()
        else:
            log.event("key.refused", "shortcut not allowed by policy", action=action.value)

    def _zoom(self, action: KeyAction) -> None:
        from lockdown.ui.keys import KeyAction

        current = self.view.zoomFactor()
        if action is KeyAction.ZOOM_RESET:
            self.view.setZoomFactor(1.0)
        elif action is KeyAction.ZOOM_IN:
            self.view.setZoomFactor(next((z for z in ZOOM_STEPS if z > current + 1e-3), 3.0))
        else:
            self.view.setZoomFactor(next((z for z in reversed(ZOOM_STEPS)
                                          if z < current - 1e-3), 0.5))

    def _print(self, url: str) -> None:
        decision = self._decider.print_page(url)
        if not decision.allowed:
            log.event("print.blocked", decision.reason, level=30, url=url)
            self.status.message.setText("Printing is not allowed during this exam.")
            return
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        printer = QPrinter()
        if QPrintDialog(printer, self).exec():
            self.view.print(printer)
            log.event("print.started", "printing", url=url)

    def _context_menu(self, pos: QPoint) -> None:
        """Only cut/copy/paste: no Inspect, no View source, no Save, no Back/Forward/Reload."""
        from PySide6.QtWidgets import QMenu

        menu = QMenu(self)
        for label, action in _EDIT_ACTIONS:
            menu.addAction(label, functools.partial(self.page.triggerAction, action))
        menu.popup(self.view.mapToGlobal(pos))

    def _downloads_changed(self) -> None:
        self.status.downloads.setVisible(bool(self._downloads.items))
        self.status.downloads.setText(f"Downloads ({len(self._downloads.items)})")

    def _show_downloads(self) -> None:
        from PySide6.QtCore import QPoint
        from PySide6.QtWidgets import QMenu

        menu = QMenu(self)
        for line in self._downloads.summary():
            menu.addAction(line).setEnabled(False)
        menu.popup(self.status.downloads.mapToGlobal(QPoint(0, 0)))

    # -- leaving ----------------------------------------------------------------------------
    def set_pending_answers(self, pending_answers: Callable[[], int]) -> None:
        """How many answers are not on the server yet (the journal); asked before quitting."""
        self._pending_answers = pending_answers

    def request_quit(self) -> None:
        from lockdown.ui.quit_flow import QuitFlow

        if QuitFlow(self, self._policy, self._pending_answers).ask():
            self.end_session("user")

    @property
    def ending(self) -> bool:
        return self._ending

    def end_session(self, why: str) -> None:
        if self._ending:
            return
        self._ending = True
        log.event("session.end", "session ending", why=why)
        for popup in list(self._popups):
            popup.close()
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._ending:
            event.accept()
            return
        event.ignore()  # Alt+F4 and window-manager close go through the quit policy
        self.request_quit()
