"""Links the OS hands to a running app (macOS: ``QFileOpenEvent``, not argv).

On macOS a clicked ``numbas://``/``seb://``/``sebs://`` link, or an opened ``.seb`` file, reaches
the app as a FileOpen event sent to the QApplication, at launch as well as later. The app answers
by restarting itself with the link as its argument, the same path an in-page ``seb://`` link
takes, so the machine policy is checked exactly as for a command-line link. Windows and Linux
start a new process with the link in argv instead, so this is installed (and this module
imported: its Qt classes cost start-up time) on macOS only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QUrl
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from lockdown import log

LINK_SCHEMES = ("numbas", "seb", "sebs")


def link_from(url: QUrl) -> str | None:
    """The launch argument for an opened URL: a link of ours or a local .seb file, else None."""
    if url.scheme().lower() in LINK_SCHEMES:
        return url.toString(QUrl.ComponentFormattingOption.FullyEncoded)
    if url.isLocalFile() and url.toLocalFile().lower().endswith(".seb"):
        return url.toLocalFile()
    return None


def restart_args_for(link: str, base_args: Sequence[str]) -> list[str]:
    """This app's command line (without its own launch argument) plus the new link."""
    return [*base_args, link]


class LinkAwareApplication(QApplication):
    """A QApplication that turns FileOpen events into :attr:`on_link` calls.

    Overriding ``event`` on the application object only sees events sent to the application
    itself (unlike an application-wide event filter, which crashes with WebEngine in PySide6
    6.12).
    """

    on_link: Callable[[str], None] | None = None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            link = link_from(event.url())
            log.event("os.link_opened", "the OS opened a link", accepted=link is not None)
            if link is not None and self.on_link is not None:
                self.on_link(link)
            return True
        return super().event(event)
