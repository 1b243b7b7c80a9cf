"""Downloads for staff pages (score CSVs): decided by policy, saved to the user's Downloads folder.

Exam pages never download: the policy refuses, the request is cancelled and logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QUrl, Signal

from lockdown import log
from lockdown.policy.decide import Decider

if TYPE_CHECKING:  # its Python enums are built at its first import: at the first download
    from PySide6.QtWebEngineCore import QWebEngineDownloadRequest

WARNING = 30


class DownloadManager(QObject):
    """Accepts or cancels each download and keeps the list the staff member sees."""

    changed = Signal()

    def __init__(self, decider: Decider, folder: Path) -> None:
        super().__init__()
        self._decider = decider
        self._folder = folder
        self.items: list[QWebEngineDownloadRequest] = []

    def on_download(self, download: QWebEngineDownloadRequest) -> None:
        page = download.page()
        page_url = page.url().toString(QUrl.ComponentFormattingOption.FullyEncoded) if page else ""
        target = download.url().toString(QUrl.ComponentFormattingOption.FullyEncoded)
        decision = self._decider.download(page_url, target)
        if not decision.allowed:
            log.event("download.blocked", "blocked download", level=WARNING, url=target,
                      page=page_url, reason=decision.reason, rule=decision.rule)
            download.cancel()
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        download.setDownloadDirectory(str(self._folder))
        download.setDownloadFileName(_unique_name(self._folder, download.downloadFileName()))
        download.isFinishedChanged.connect(lambda: self._finished(download))
        download.accept()
        self.items.append(download)
        log.event("download.started", "download", url=target, page=page_url,
                  file=str(self._folder / download.downloadFileName()))
        self.changed.emit()

    def _finished(self, download: QWebEngineDownloadRequest) -> None:
        path = Path(download.downloadDirectory()) / download.downloadFileName()
        log.event("download.finished", "download finished", file=str(path),
                  state=download.state().name, bytes=download.receivedBytes())
        self.changed.emit()

    def summary(self) -> list[str]:
        lines = []
        for item in self.items:
            state = "done" if item.isFinished() else f"{item.receivedBytes()} bytes"
            lines.append(f"{item.downloadFileName()} — {state}")
        return lines


def _unique_name(folder: Path, name: str) -> str:
    """Never overwrite an earlier download: scores.csv, scores (1).csv, ..."""
    candidate = Path(name or "download").name
    stem, suffix = Path(candidate).stem, Path(candidate).suffix
    index = 1
    while (folder / candidate).exists():
        candidate = f"{stem} ({index}){suffix}"
        index += 1
    return candidate
