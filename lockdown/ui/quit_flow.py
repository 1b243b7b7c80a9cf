"""Leaving the exam: the quit policy (allowed? confirm? password?) asked in one place.

Closing the window, Alt+F4, Ctrl+Q and the Quit button all come here. The journal's pending count
is asked first: quitting with answers not yet on the server gets a much bigger warning.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox, QWidget

from lockdown import log
from lockdown.policy.quit import quit_password_ok
from lockdown.policy.settings import Policy

WARNING = 30


class QuitFlow:
    def __init__(self, parent: QWidget, policy: Policy,
                 pending_answers: Callable[[], int] = lambda: 0) -> None:
        self._parent = parent
        self._policy = policy
        self._pending = pending_answers

    def ask(self) -> bool:
        """True when the user may and does want to leave."""
        log.event("quit.requested", "quit requested")
        if not self._policy.allow_quit:
            QMessageBox.information(self._parent, "Quit",
                                    "Quitting is disabled for this exam. Finish the exam to leave.")
            log.event("quit.refused", "quit not allowed by policy", level=WARNING)
            return False
        pending = self._pending()
        if pending and not self._confirm_pending(pending):
            log.event("quit.cancelled", "quit cancelled: unsaved answers", pending=pending)
            return False
        if self._policy.quit_password_sha256:
            return self._ask_password()
        if self._policy.quit_confirm and not pending:
            answer = QMessageBox.question(
                self._parent, "Quit the exam browser",
                "Do you really want to quit the exam browser?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                log.event("quit.cancelled", "quit cancelled")
                return False
        return True

    def _confirm_pending(self, pending: int) -> bool:
        box = QMessageBox(self._parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Your answers are not saved to the server yet")
        box.setText(
            f"<h2 style='color:#b00020'>{pending} answer(s) are NOT saved to the server yet.</h2>"
            "<p>They are kept safely on this computer and will be sent the next time you open"
            " the exam on this device. If you quit now and use another computer, the server will"
            " not have them.</p><p>Stay and wait for the connection to return?</p>"
        )
        stay = box.addButton("Stay in the exam", QMessageBox.ButtonRole.RejectRole)
        box.addButton("Quit anyway", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(stay)
        box.exec()
        return box.clickedButton() is not stay

    def _ask_password(self) -> bool:
        password, ok = QInputDialog.getText(self._parent, "Quit password",
                                            "Enter the quit password from your invigilator:",
                                            QLineEdit.EchoMode.Password)
        if not ok:
            log.event("quit.cancelled", "quit cancelled at password prompt")
            return False
        if quit_password_ok(self._policy.quit_password_sha256, password):
            return True
        log.event("quit.wrong_password", "wrong quit password", level=WARNING)
        QMessageBox.warning(self._parent, "Quit", "Wrong quit password. The exam continues.")
        return False
