"""The "environment check" page: what was checked, what passed, what failed and what to do.

It takes the web view's place in the kiosk window (the status strip stays), either because a check
the policy sets to deny failed (``blocking``: no way back to the exam until it passes) or because
the student opened it from the status strip's "Checks" button to read the warnings. The view only
shows results and emits what the student asked for; :mod:`lockdown.ui.environment` decides.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lockdown.platform.checks import CheckResult, CheckStatus

#: How each status reads for the student: a symbol, a word and a colour.
STATUS_LOOK: dict[CheckStatus, tuple[str, str, str]] = {
    "pass": ("✔", "Passed", "#1b5e20"),
    "warn": ("⚠", "Warning", "#8a6d00"),
    "error": ("!", "Could not check", "#8a6d00"),
    "deny": ("✖", "Not allowed", "#b00020"),
}

#: Most serious first: the view lists what stops the exam before what passed.
SEVERITY: dict[CheckStatus, int] = {"deny": 0, "error": 1, "warn": 2, "pass": 3}

#: Readable titles for the check and step names used by ``lockdown.platform``.
CHECK_TITLES: dict[str, str] = {
    "displays": "Displays",
    "virtual-machine": "Virtual machine",
    "remote-session": "Remote session",
    "prohibited-processes": "Other programs",
    "desktop-session": "Desktop session",
    "keyboard": "Keyboard lock",
    "screen-capture": "Screen capture",
    "clipboard": "Clipboard",
    "lockdown": "Exam lockdown",
    "policy": "Exam policy",
}


def check_title(name: str) -> str:
    """``virtual-machine`` -> ``Virtual machine`` (known names) or a tidied version of the name."""
    return CHECK_TITLES.get(name, name.replace("-", " ").replace("_", " ").capitalize())


def result_html(result: CheckResult) -> str:
    """One row of the view as rich text; every string from the checks is escaped."""
    symbol, word, colour = STATUS_LOOK[result.status]
    parts = [
        f"<b style='color:{colour}'>{symbol} {word}</b> — "
        f"<b>{html.escape(check_title(result.name))}</b>",
        f"<br>{html.escape(result.detail)}",
    ]
    if result.advice and result.status != "pass":
        parts.append(f"<br><i>What to do:</i> {html.escape(result.advice)}")
    return "".join(parts)


class CheckView(QFrame):
    """The list of results and the student's choices: check again, close programs, back, quit."""

    check_again = Signal()
    close_programs = Signal()
    back_to_exam = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("environmentCheckView")
        self.blocking = False
        self.results: tuple[CheckResult, ...] = ()
        self.rows: dict[str, QLabel] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(32, 24, 32, 24)
        self.heading = QLabel("Environment check")
        self.heading.setObjectName("checkHeading")
        self.heading.setStyleSheet("font-size: 20pt; font-weight: bold;")
        self.summary = QLabel("")
        self.summary.setObjectName("checkSummary")
        self.summary.setWordWrap(True)
        outer.addWidget(self.heading)
        outer.addWidget(self.summary)
        self._list = QWidget()
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._list)
        outer.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        self.check_again_button = self._button("Check again", "checkAgainButton", self.check_again)
        self.close_programs_button = self._button(
            "Close these programs…", "closeProgramsButton", self.close_programs
        )
        self.back_button = self._button("Back to the exam", "backToExamButton", self.back_to_exam)
        self.quit_button = self._button("Quit", "checkQuitButton", self.quit_requested)
        buttons.addWidget(self.check_again_button)
        buttons.addWidget(self.close_programs_button)
        buttons.addStretch(1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.quit_button)
        outer.addLayout(buttons)
        self.close_programs_button.setVisible(False)

    def _button(self, text: str, name: str, signal: SignalInstance) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(signal.emit)
        return button

    def show_results(
        self,
        results: Sequence[CheckResult],
        *,
        blocking: bool,
        running: bool = False,
        can_close_programs: bool = False,
    ) -> None:
        """Replace the list; ``blocking`` hides the way back, ``running``: checks are pending."""
        self.blocking = blocking
        self.results = tuple(sorted(results, key=lambda r: SEVERITY[r.status]))
        while (item := self._list_layout.takeAt(0)) is not None:
            widget = item.widget()
            if widget is not None:
                widget.deleteLater()
        self.rows = {}
        for result in self.results:
            row = QLabel(result_html(result))
            row.setObjectName(f"check-{result.name}")
            row.setTextFormat(Qt.TextFormat.RichText)
            row.setWordWrap(True)
            row.setProperty("status", result.status)
            self._list_layout.addWidget(row)
            self.rows[result.name] = row
        self.summary.setText(self._summary_text(blocking=blocking, running=running))
        self.back_button.setVisible(not blocking)
        self.check_again_button.setEnabled(not running)
        self.close_programs_button.setVisible(can_close_programs)

    def _summary_text(self, *, blocking: bool, running: bool) -> str:
        if running:
            return "Checking this computer…"
        if blocking:
            return (
                "The exam cannot be used on this computer as it is now. Fix the problems marked "
                "“Not allowed” below, then choose “Check again”, or ask the invigilator."
            )
        problems = sum(1 for r in self.results if r.status != "pass")
        if problems:
            return (
                "The exam can go ahead. The points marked below were noted for the exam staff; "
                "fix them if you can."
            )
        return "Everything was checked and passed."
