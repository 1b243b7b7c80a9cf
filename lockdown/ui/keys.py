"""Keyboard shortcuts: devtools/view-source/save swallowed, reload/zoom/print per policy.

The filter sits on each kiosk window's QWindow, which gets every key event before the focused
widget (for a web view, the focus proxy Chromium's key events really go to), and sees
``ShortcutOverride`` events too, so no Chromium or Qt default shortcut can act on a swallowed key.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QWidget

from lockdown import log

if TYPE_CHECKING:
    from PySide6.QtCore import Qt


class KeyAction(Enum):
    DELIVER = "deliver"
    SWALLOW = "swallow"
    RELOAD = "reload"
    ZOOM_IN = "zoom-in"
    ZOOM_OUT = "zoom-out"
    ZOOM_RESET = "zoom-reset"
    PRINT = "print"
    QUIT = "quit"


def classify(key: int, modifiers: Qt.KeyboardModifier) -> KeyAction:
    """What a key press means in the kiosk (pure mapping, unit-tested).

    ``Qt`` is not imported at module level: its first import creates ~90 Python enums (~15 ms),
    which :mod:`lockdown.ui.warmup` does off the GUI thread while the start page loads.
    """
    from lockdown.ui.warmup import qt_namespace

    Qt = qt_namespace()
    _K, _M = Qt.Key, Qt.KeyboardModifier
    mods = modifiers & ~_M.KeypadModifier  # keypad is a location, not a modifier a user means
    ctrl = _M.ControlModifier
    ctrl_shift = _M.ControlModifier | _M.ShiftModifier
    alt = _M.AltModifier
    if key == _K.Key_F12:
        return KeyAction.SWALLOW
    if mods == ctrl_shift and key in (_K.Key_I, _K.Key_J, _K.Key_C, _K.Key_K, _K.Key_M,
                                      _K.Key_Delete, _K.Key_R):
        return KeyAction.SWALLOW
    if mods == (_M.MetaModifier | _M.AltModifier) and key in (_K.Key_I, _K.Key_J, _K.Key_C):
        return KeyAction.SWALLOW  # the macOS devtools chords
    if mods == ctrl and key in (_K.Key_U, _K.Key_S, _K.Key_O, _K.Key_N, _K.Key_T, _K.Key_W,
                                _K.Key_L, _K.Key_H, _K.Key_J, _K.Key_D, _K.Key_G):
        return KeyAction.SWALLOW
    if mods == ctrl and key == _K.Key_P:
        return KeyAction.PRINT
    if key == _K.Key_F5 or (mods == ctrl and key == _K.Key_R):
        return KeyAction.RELOAD
    if mods in (ctrl, ctrl_shift) and key in (_K.Key_Plus, _K.Key_Equal):
        return KeyAction.ZOOM_IN
    if mods == ctrl and key == _K.Key_Minus:
        return KeyAction.ZOOM_OUT
    if mods == ctrl and key == _K.Key_0:
        return KeyAction.ZOOM_RESET
    if mods == alt and key == _K.Key_F4:
        return KeyAction.QUIT
    if mods == ctrl and key == _K.Key_Q:
        return KeyAction.QUIT
    if key in (_K.Key_F11, _K.Key_F7, _K.Key_F6):
        return KeyAction.SWALLOW  # fullscreen toggle, caret browsing, address bar focus
    return KeyAction.DELIVER


class KeyFilter(QObject):
    """Swallows forbidden shortcuts and routes the allowed ones to the window."""

    def __init__(self, handle: Callable[[KeyAction], None]) -> None:
        super().__init__()
        self._handle = handle

    def watch(self, window: QWidget) -> None:
        """Filter a top-level window's keys where Qt delivers them first: its QWindow.

        Filtering there needs no Python wrapper of a web view's focus proxy (an unknown class:
        PySide6 6.12 spends ~25 ms initialising every QWidget subclass to wrap one, on the start
        page's critical path). An application-wide Python filter is no option: it crashes
        PySide6 6.12 as soon as QtWebEngine's internal objects get events. The window itself is
        watched too, for ``WinIdChange``: Qt re-creates the native window (and its QWindow) when
        the first web page brings Chromium's OpenGL widget into it.
        """
        window.installEventFilter(self)
        window.winId()  # creates the native window, and with it the QWindow
        self._filter_window_of(window)

    def _filter_window_of(self, window: QWidget) -> None:
        handle = window.windowHandle()
        if handle is not None:
            handle.installEventFilter(self)  # Qt keeps one entry per filter: no duplicates

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.WinIdChange and isinstance(watched, QWidget):
            self._filter_window_of(watched)
            return False
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        if not isinstance(event, QKeyEvent):
            return False
        action = classify(event.key(), event.modifiers())
        if action is KeyAction.DELIVER:
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # claim it so no shortcut fires; the KeyPress comes next
            return True
        if action is KeyAction.SWALLOW:
            log.event("key.swallowed", "shortcut swallowed", key=event.key(),
                      modifiers=int(event.modifiers().value))
        else:
            self._handle(action)
        return True
