"""Keep the exam window in charge: the X11 keyboard grab, fullscreen, and the focus.

Both guards are deliberately modest: they never move the focus away from one of the app's own
windows (the quit dialog, a consent box, a print dialog, a permitted popup), they retry on a slow
timer rather than in a tight loop, and they stop taking the focus back for a while if something
keeps taking it (a window manager that refuses is not fought in a loop).
"""

from __future__ import annotations

import contextlib
import logging
import time

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QWindow
from PySide6.QtWidgets import QApplication, QWidget

from lockdown import log

GRAB_RETRY_MS = 1_000
#: Until the first grab succeeds (the window is not mapped yet), try this often.
FIRST_GRAB_RETRY_MS = 100
FOCUS_RETAKE_DELAY_MS = 250
#: At most this many focus retakes (and as many fullscreen restores) per ``_RETAKE_WINDOW_S``.
MAX_RETAKES = 5
_RETAKE_WINDOW_S = 10.0


class KeyboardKeeper(QObject):
    """Hold the X11 keyboard for the exam window while the exam runs.

    Qt's ``QWidget.grabKeyboard`` is not used: it sends every key to the grabbing widget itself,
    so the web page's focused field would get nothing. ``QWindow.setKeyboardGrabEnabled`` makes
    the X server send every key to the app, and Qt still delivers each to its focused window and
    widget, which is how the quit dialog keeps working while the grab stays on the exam window.

    Qt drops the grab when one of its popup menus closes, and the X server refuses it until the
    window is mapped; so the grab is taken again whenever the app's focus window changes and once
    a second (a repeated grab of the same window is a single cheap request with no side effects).
    """

    def __init__(self, window: QWidget, retry_ms: int = GRAB_RETRY_MS) -> None:
        super().__init__(window)
        self._window = window
        self._active = False
        self.held = False
        self._timer = QTimer(self)
        self._retry_ms = retry_ms
        self._timer.setInterval(FIRST_GRAB_RETRY_MS)
        self._timer.timeout.connect(self._grab_now)
        self._app = QGuiApplication.instance()

    def grab(self) -> None:
        """Start holding the keyboard (the lockdown step's apply)."""
        if self._active:
            return
        self._active = True
        if isinstance(self._app, QGuiApplication):
            self._app.focusWindowChanged.connect(self._focus_changed)
        self._timer.start()
        self._grab_now()

    def release(self) -> None:
        """Give the keyboard back (the lockdown step's restore); safe to call twice."""
        if not self._active:
            return
        self._active = False
        self._timer.stop()
        if isinstance(self._app, QGuiApplication):
            self._app.focusWindowChanged.disconnect(self._focus_changed)
        handle = self._window.windowHandle()
        if handle is not None:
            handle.setKeyboardGrabEnabled(False)
        if self.held:
            log.event("keyboard.released", "the exam window released the keyboard")
        self.held = False

    def _focus_changed(self, _window: QWindow | None) -> None:
        # Qt releases the grab as a popup menu closes, after this signal: grab a tick later.
        QTimer.singleShot(0, self, self._grab_now)

    def _grab_now(self) -> None:
        if not self._active or QApplication.activePopupWidget() is not None:
            return  # a popup menu holds its own grab while it is open
        handle = self._window.windowHandle()
        if handle is None or not self._window.isVisible():
            return
        held = handle.setKeyboardGrabEnabled(True)
        self._timer.setInterval(self._retry_ms if held else FIRST_GRAB_RETRY_MS)
        if held and not self.held:
            log.event("keyboard.grabbed", "the exam window holds the keyboard",
                      window=int(self._window.winId()))
        elif self.held and not held:
            log.event("keyboard.grab_lost", "the keyboard grab was refused; retrying",
                      level=logging.WARNING)
        self.held = held


class KioskGuard(QObject):
    """Keep the exam window fullscreen and take the focus back when another program takes it.

    Fullscreen is restored only once the window has been fullscreen (tests and staff tools may
    show it as a normal window). The focus is taken back only while the app has no focused window
    at all and none of its dialogs is open, at most ``MAX_RETAKES`` times in ten seconds.
    """

    def __init__(self, window: QWidget, retake_delay_ms: int = FOCUS_RETAKE_DELAY_MS) -> None:
        super().__init__(window)
        self._window = window
        self._stopped = False
        self._was_fullscreen = False
        self._retakes: list[float] = []
        self._restores: list[float] = []
        self._retake_timer = QTimer(self)
        self._retake_timer.setSingleShot(True)
        self._retake_timer.setInterval(retake_delay_ms)
        self._retake_timer.timeout.connect(self._retake_focus)
        window.winId()  # create the native window so its QWindow exists to watch
        self._handle: QWindow | None = window.windowHandle()
        if self._handle is not None:
            self._handle.windowStateChanged.connect(self._state_changed)
            self._was_fullscreen = bool(self._handle.windowStates()
                                        & Qt.WindowState.WindowFullScreen)
        self._app = QGuiApplication.instance()
        if isinstance(self._app, QGuiApplication):
            self._app.applicationStateChanged.connect(self._app_state_changed)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._retake_timer.stop()
        if isinstance(self._app, QGuiApplication):
            self._app.applicationStateChanged.disconnect(self._app_state_changed)
        if self._handle is not None:
            # Qt may already have destroyed the native window (and its QWindow) at close.
            with contextlib.suppress(RuntimeError):
                self._handle.windowStateChanged.disconnect(self._state_changed)
            self._handle = None

    def _state_changed(self, state: Qt.WindowState) -> None:
        if state & Qt.WindowState.WindowFullScreen:
            self._was_fullscreen = True
            QTimer.singleShot(0, self, self._fit_screen)
            return
        if self._stopped or not self._was_fullscreen or not self._window.isVisible():
            return
        if not self._may_act(self._restores):
            log.event("kiosk.fullscreen_lost", "the window keeps leaving fullscreen",
                      level=logging.ERROR, state=str(state))
            return
        log.event("kiosk.fullscreen_restored", "the exam window left fullscreen; restored",
                  level=logging.WARNING, state=str(state))
        QTimer.singleShot(0, self, self._window.showFullScreen)

    def _fit_screen(self) -> None:
        """Cover the whole screen even without a window manager to apply "fullscreen".

        On X11 fullscreen is a request to the window manager; a kiosk session or Xvfb without
        one leaves the window at its old size, so set the screen's geometry ourselves.
        """
        screen = self._window.screen()
        if self._stopped or not self._window.isVisible():
            return
        target = screen.geometry()
        if self._window.geometry() != target:
            self._window.setGeometry(target)
            log.event("kiosk.fit_screen", "the window now covers the screen",
                      width=target.width(), height=target.height())

    @staticmethod
    def _may_act(history: list[float]) -> bool:
        """Rate limit: at most ``MAX_RETAKES`` actions of one kind per ``_RETAKE_WINDOW_S``."""
        now = time.monotonic()
        history[:] = [t for t in history if now - t < _RETAKE_WINDOW_S]
        if len(history) >= MAX_RETAKES:
            return False
        history.append(now)
        return True

    def _app_state_changed(self, state: Qt.ApplicationState) -> None:
        if not self._stopped and state != Qt.ApplicationState.ApplicationActive:
            self._retake_timer.start()

    def _retake_focus(self) -> None:
        app = self._app
        if (self._stopped or not isinstance(app, QGuiApplication) or not self._window.isVisible()
                or app.focusWindow() is not None):
            return
        if QApplication.activeModalWidget() is not None:
            # One of the app's dialogs is open (Windows and macOS print dialogs are native
            # windows Qt does not list as focused): never pull the focus away from it.
            return
        if not self._may_act(self._retakes):
            # Something keeps taking the focus (or the window manager refuses): do not fight it
            # in a loop; the next change of the app's state tries again.
            log.event("kiosk.focus_lost", "another program keeps taking the focus",
                      level=logging.ERROR)
            return
        self._window.raise_()
        self._window.activateWindow()
        log.event("kiosk.focus_retaken", "another program took the focus; taken back",
                  level=logging.WARNING)
