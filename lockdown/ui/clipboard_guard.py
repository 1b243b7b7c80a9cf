"""The clipboard policy during an exam: allow, block or isolated (SEB's three; default isolated).

The platform steps clear the system clipboard at start and end. Beyond that:
- ``isolated``: copy and paste work inside the exam, but nothing crosses the app boundary. When the
  app stops being the active application its clipboard is stashed and the system clipboard
  cleared, so other programs never read exam text. When it becomes active again the stash is put
  back, replacing anything another program copied meanwhile.
- ``block``: every clipboard change is undone at once.
- ``allow``: nothing beyond the start/end clearing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QObject, Qt
from PySide6.QtGui import QClipboard, QGuiApplication

from lockdown import log

if TYPE_CHECKING:
    from lockdown.ui.app import Session


def _copy(data: QMimeData | None) -> QMimeData:
    copy = QMimeData()
    if data is not None:
        for fmt in data.formats():
            copy.setData(fmt, data.data(fmt))
    return copy


class ClipboardGuard(QObject):
    """Applies ``policy`` to ``clipboard``; ``state_changed`` is fed the application state."""

    def __init__(self, clipboard: QClipboard, policy: str) -> None:
        super().__init__()
        self._clipboard = clipboard
        self._policy = policy
        self._stash: QMimeData | None = None
        self._restoring = False
        clipboard.dataChanged.connect(self._changed)

    def state_changed(self, state: Qt.ApplicationState) -> None:
        if self._policy != "isolated":
            return
        if state == Qt.ApplicationState.ApplicationActive:
            if self._stash is not None:
                self._set(self._stash)
                self._stash = None
        elif self._stash is None:
            self._stash = _copy(self._clipboard.mimeData())
            self._set(QMimeData())
            log.event("clipboard.isolated", "exam clipboard kept inside the app")

    def _changed(self) -> None:
        if self._restoring or self._policy != "block":
            return
        self._set(QMimeData())
        log.event("clipboard.blocked", "clipboard change undone (clipboard blocked)")

    def _set(self, data: QMimeData) -> None:
        self._restoring = True
        try:
            self._clipboard.setMimeData(data)
        finally:
            self._restoring = False


def install(session: Session) -> Callable[[], None] | None:
    policy = session.policy.clipboard_policy
    if policy == "allow":
        return None
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return None
    guard = ClipboardGuard(QGuiApplication.clipboard(), policy)
    app.applicationStateChanged.connect(guard.state_changed)

    def cleanup() -> None:
        app.applicationStateChanged.disconnect(guard.state_changed)
        QGuiApplication.clipboard().clear()

    return cleanup
