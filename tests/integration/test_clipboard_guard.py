"""Clipboard policy in a real Qt clipboard: isolated keeps exam text inside, block undoes copies."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from lockdown.ui.clipboard_guard import ClipboardGuard

ACTIVE = Qt.ApplicationState.ApplicationActive
INACTIVE = Qt.ApplicationState.ApplicationInactive


def test_isolated_clipboard_never_leaves_the_app(qtbot: QtBot) -> None:
    del qtbot  # provides the QApplication
    clipboard = QGuiApplication.clipboard()
    guard = ClipboardGuard(clipboard, "isolated")
    clipboard.setText("answer to question 3")  # copied inside the exam
    guard.state_changed(INACTIVE)  # the student switches to another program
    assert clipboard.text() == ""  # it sees nothing
    clipboard.setText("text from outside")  # and copies something
    guard.state_changed(ACTIVE)  # back in the exam
    assert clipboard.text() == "answer to question 3"  # the exam's own clipboard, not outside's


def test_blocked_clipboard_undoes_every_copy(qtbot: QtBot) -> None:
    del qtbot
    clipboard = QGuiApplication.clipboard()
    guard = ClipboardGuard(clipboard, "block")
    clipboard.setText("copied")
    assert clipboard.text() == ""
    del guard
