"""In-page ``seb://`` links for a session started without a launch link or SEB keys.

Such a session needs the SEB machinery (download the configuration with the student's cookies,
decode it, restart: :mod:`lockdown.ui.exam_protocols`) only when a page offers a link, which most
exam sessions never do; loading it costs ~100 ms of GUI-thread time and several MiB. The schemes
are claimed at once, so no link can slip past; the machinery loads at the first one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lockdown.policy.seb.links import SEB_SCHEMES

if TYPE_CHECKING:
    from lockdown.cli import Options
    from lockdown.ui.app import Session
    from lockdown.ui.exam_protocols import SebLinks


class LazySebLinks:
    """Claims the SEB schemes in the session's page; builds the real handler on first use."""

    def __init__(self, session: Session, options: Options) -> None:
        self._session = session
        self._options = options
        self.links: SebLinks | None = None
        session.window.page.claim_schemes(SEB_SCHEMES, self.handle)

    def handle(self, raw: str) -> None:
        if self.links is None:
            from lockdown.ui.exam_protocols import seb_links
            from lockdown.ui.numbas_password import LaunchContext

            self.links = seb_links(self._session, LaunchContext(options=self._options))
        self.links.handle(raw)

    def cleanup(self) -> None:
        """A link that got as far as a new configuration restarts the app (``app._leave``)."""
        if self.links is not None:
            self._session.restart_args = self.links.restart_args


def install(session: Session, options: Options) -> Callable[[], None]:
    return LazySebLinks(session, options).cleanup
