"""Full-width banners above the exam page: what the student must know about their answers.

Three kinds, from :mod:`lockdown.ui.journal_bridge`: red "not saved to the server yet" (after the
policy's ``unsaved_banner_delay_s``), dark red "this attempt is open elsewhere", amber notices
(journal files that could not be trusted). A banner only shows and hides; what it says and when is
decided by the bridge, so the wording lives in one place (:func:`unsaved_text`, ...).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLabel, QPushButton, QWidget

RED = ("#b00020", "#ffffff")
DARK_RED = ("#5c0011", "#ffffff")
AMBER = ("#ffd54f", "#1a1a1a")


def unsaved_text(pending: int) -> str:
    return (
        f"Your answers are not saved to the server yet — {pending} pending, saved on this device"
    )


def kicked_text(pending: int) -> str:
    kept = (
        f" The {pending} answer(s) entered here that the server does not have are kept on this"
        " computer and are not sent, so they cannot overwrite newer answers; exam support can"
        " export them."
        if pending
        else ""
    )
    return (
        "This attempt has been opened in another window or on another device, so this window"
        f" cannot save answers any more. Continue there.{kept}"
    )


class Banner(QWidget):
    """A coloured strip with one message; hidden while it has nothing to say."""

    def __init__(self, name: str, colours: tuple[str, str], *, closable: bool = False) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        background, foreground = colours
        self.setStyleSheet(
            f"#{name} {{ background: {background}; }}"
            f" #{name} QLabel {{ color: {foreground}; font-weight: bold; padding: 6px; }}"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        self.label = QLabel("")
        self.label.setObjectName(f"{name}Text")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.label, 1)
        self.close_button: QPushButton | None = None
        if closable:
            self.close_button = QPushButton("OK")
            self.close_button.setObjectName(f"{name}Close")
            self.close_button.clicked.connect(lambda: self.say(None))
            layout.addWidget(self.close_button)
        self.setVisible(False)

    @property
    def text(self) -> str | None:
        """What the banner shows now, or None while hidden."""
        return self.label.text() if not self.isHidden() else None

    def say(self, text: str | None) -> bool:
        """Show ``text`` (None hides); returns True when what the student sees changed."""
        if text == self.text:
            return False  # no Qt call when nothing changes (it runs once a second)
        if text is not None and text != self.label.text():
            self.label.setText(text)
        if self.isHidden() != (text is None):
            self.setVisible(text is not None)
        return True


def place_above_page(window: QWidget, *banners: Banner) -> None:
    """Insert the banners right above the web view (below the progress bar) of a kiosk window."""
    layout = window.layout()
    if not isinstance(layout, QBoxLayout):  # pragma: no cover - the kiosk window's own layout
        raise TypeError("the kiosk window has no box layout to put banners in")
    for offset, banner in enumerate(banners):
        layout.insertWidget(1 + offset, banner)
