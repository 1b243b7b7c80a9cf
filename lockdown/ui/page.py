"""The exam page: the second check on every frame navigation, and every page capability denied.

The interceptor (profile.py) sees network requests; this page sees navigations before they start,
including ones that never reach the network (``javascript:``, ``data:``, ``view-source:``,
``chrome://``), popups, file choosers, permissions, certificate errors and print requests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile, QWebEngineSettings

from lockdown import log
from lockdown.policy.decide import Decider, Decision

if TYPE_CHECKING:  # PySide6 builds each class's Python enums at its first import: not at start
    from PySide6.QtWebEngineCore import (
        QWebEngineCertificateError,
        QWebEngineDesktopMediaRequest,
        QWebEngineFileSystemAccessRequest,
        QWebEnginePermission,
        QWebEngineRegisterProtocolHandlerRequest,
    )

WARNING = 30
_Attr = QWebEngineSettings.WebAttribute


def harden_settings(settings: QWebEngineSettings) -> None:
    """Capabilities an exam page never needs; each one is a route out or a leak."""
    for attribute, value in (
        (_Attr.NavigateOnDropEnabled, False),
        (_Attr.LocalContentCanAccessRemoteUrls, False),
        (_Attr.LocalContentCanAccessFileUrls, False),
        (_Attr.AllowRunningInsecureContent, False),
        (_Attr.AllowGeolocationOnInsecureOrigins, False),
        (_Attr.PluginsEnabled, False),
        (_Attr.PdfViewerEnabled, False),
        (_Attr.FullScreenSupportEnabled, False),
        (_Attr.ScreenCaptureEnabled, False),
        (_Attr.JavascriptCanAccessClipboard, False),
        (_Attr.JavascriptCanPaste, False),
        (_Attr.AllowWindowActivationFromJavaScript, False),
        (_Attr.WebRTCPublicInterfacesOnly, True),
        (_Attr.ErrorPageEnabled, True),
        (_Attr.JavascriptEnabled, True),
        (_Attr.LocalStorageEnabled, True),
    ):
        settings.setAttribute(attribute, value)


class ExamPage(QWebEnginePage):
    """A page whose every capability is decided by the policy."""

    #: A main-frame navigation was refused: the window shows the blocked page for it.
    navigation_blocked = Signal(Decision)
    #: The quit URL was reached: the session ends.
    quit_url_reached = Signal()
    #: A popup was allowed: same_window or new_window, with its URL.
    popup_requested = Signal(QUrl)

    def __init__(self, profile: QWebEngineProfile, decider: Decider,
                 parent: QObject | None = None) -> None:
        # Parented to its view so deleting the window deletes the page before the profile.
        super().__init__(profile, parent)
        self._decider = decider
        #: Picks files once the policy allows an upload; the Qt file dialog unless replaced
        #: (tests and kiosk sessions with a restricted file picker replace it).
        self.file_picker: Callable[[QWebEnginePage.FileSelectionMode, Sequence[str],
                                    Sequence[str]], list[str]] | None = None
        #: Link schemes an integration handles itself (seb:, sebs:) in the main frame: the
        #: navigation is refused and the handler gets the URL (frames get the policy's refusal).
        #: Handlers must defer their work (see KioskWindow).
        self.scheme_handlers: dict[str, Callable[[str], None]] = {}
        harden_settings(self.settings())
        self.certificateError.connect(self._on_certificate_error)
        self.permissionRequested.connect(self._on_permission)
        self.fileSystemAccessRequested.connect(self._on_file_system_access)
        self.desktopMediaRequested.connect(self._on_desktop_media)
        self.registerProtocolHandlerRequested.connect(self._on_protocol_handler)

    def claim_schemes(self, schemes: tuple[str, ...], handler: Callable[[str], None]) -> None:
        """Main-frame links of ``schemes`` go to ``handler`` (which must defer its work)."""
        for scheme in schemes:
            self.scheme_handlers[scheme] = handler
        # Qt's default lets a link with an unknown scheme reach acceptNavigationRequest only after
        # a user gesture and silently drops the rest; Moodle reconfigures with a scripted
        # location.replace('sebs://...'). With this policy every such navigation reaches the
        # gate below, which hands claimed schemes over and refuses (and logs) any other, so
        # nothing is ever passed to the OS (Qt opens an external URL only when the gate accepts).
        self.settings().setUnknownUrlSchemePolicy(
            QWebEngineSettings.UnknownUrlSchemePolicy.AllowAllUnknownUrlSchemes)

    # -- navigations ------------------------------------------------------------------------
    def acceptNavigationRequest(self, url: QUrl | str,
                                navigation_type: QWebEnginePage.NavigationType,
                                is_main_frame: bool) -> bool:
        qurl = url if isinstance(url, QUrl) else QUrl(url)
        raw = qurl.toString(QUrl.ComponentFormattingOption.FullyEncoded)
        handler = self.scheme_handlers.get(qurl.scheme().lower()) if is_main_frame else None
        if handler is not None:
            # Scheme and host only: SEB links can carry session keys in their query.
            log.event("navigation.handled", "link handed to the app",
                      url=f"{qurl.scheme()}://{qurl.host()}/…")
            handler(raw)
            return False
        if self._decider.is_quit_url(raw):
            log.event("quit.url", "quit URL reached", url=raw)
            self.quit_url_reached.emit()
            return False
        decision = self._decider.navigation(raw, main_frame=is_main_frame)
        if decision.allowed:
            if is_main_frame:
                log.event("navigation.allowed", "navigation", url=decision.url,
                          rule=decision.rule, type=navigation_type.name)
            return True
        log.event("navigation.blocked", "blocked navigation", level=WARNING, url=decision.url,
                  reason=decision.reason, rule=decision.rule, main_frame=is_main_frame,
                  type=navigation_type.name)
        if is_main_frame:
            self.navigation_blocked.emit(decision)
        return False

    def createWindow(self, window_type: QWebEnginePage.WebWindowType) -> QWebEnginePage:
        """Popups land in a throw-away page whose first navigation is decided, then routed."""
        del window_type  # tabs, dialogs and windows are all routed by the popups policy
        return PopupCatcher(self.profile(), self._decider, self._route_popup, self)

    def _route_popup(self, url: QUrl, decision: Decision) -> None:
        if not decision.allowed:
            log.event("popup.blocked", "blocked popup", level=WARNING, url=decision.url,
                      reason=decision.reason, rule=decision.rule)
            return
        log.event("popup.allowed", "popup", url=decision.url,
                  policy=self._decider.policy.popups)
        self.popup_requested.emit(url)

    # -- capabilities -----------------------------------------------------------------------
    def chooseFiles(self, mode: QWebEnginePage.FileSelectionMode, old_files: Sequence[str],
                    accepted_mime_types: Sequence[str]) -> list[str]:
        page_url = self.url().toString(QUrl.ComponentFormattingOption.FullyEncoded)
        decision = self._decider.upload(page_url)
        if not decision.allowed:
            log.event("upload.blocked", "blocked file chooser", level=WARNING, url=page_url,
                      reason=decision.reason, rule=decision.rule)
            return []
        log.event("upload.allowed", "file chooser", url=page_url)
        if self.file_picker is not None:
            return self.file_picker(mode, old_files, accepted_mime_types)
        return list(super().chooseFiles(mode, old_files, accepted_mime_types))

    def javaScriptConsoleMessage(self, level: QWebEnginePage.JavaScriptConsoleMessageLevel,
                                 message: str, line: int, source: str) -> None:
        log.event("page.console", message[:500], level=10, source=source, line=line,
                  severity=level.name)

    def _on_certificate_error(self, error: QWebEngineCertificateError) -> None:
        log.event("tls.rejected", "certificate error: never accepted", level=WARNING,
                  url=error.url().toString(), error=error.description())
        error.rejectCertificate()

    def _on_permission(self, permission: QWebEnginePermission) -> None:
        origin = permission.origin().toString()
        decision = self._decider.permission(origin, permission.permissionType().name)
        log.event("permission.denied", decision.reason, level=WARNING, url=origin,
                  rule=decision.rule)
        permission.deny()

    def _on_file_system_access(self, request: QWebEngineFileSystemAccessRequest) -> None:
        log.event("permission.denied", "file system access denied", level=WARNING,
                  url=request.origin().toString())
        request.reject()

    def _on_desktop_media(self, request: QWebEngineDesktopMediaRequest) -> None:
        log.event("permission.denied", "screen sharing denied", level=WARNING)
        request.cancel()

    def _on_protocol_handler(self, request: QWebEngineRegisterProtocolHandlerRequest) -> None:
        log.event("permission.denied", "protocol handler registration denied", level=WARNING,
                  scheme=request.scheme())
        request.reject()


class PopupCatcher(QWebEnginePage):
    """Receives a popup's first navigation, asks the policy, hands the URL on, then goes away."""

    def __init__(self, profile: QWebEngineProfile, decider: Decider,
                 route: Callable[[QUrl, Decision], None], parent: QObject) -> None:
        super().__init__(profile, parent)
        self._decider = decider
        self._route = route
        self._done = False

    def javaScriptConsoleMessage(self, level: QWebEnginePage.JavaScriptConsoleMessageLevel,
                                 message: str, line: int, source: str) -> None:
        # Chromium refuses some popups itself (data: top frames) and says so only here.
        log.event("page.console", message[:500], level=10, source="popup", line=line,
                  severity=level.name)

    def acceptNavigationRequest(self, url: QUrl | str,
                                navigation_type: QWebEnginePage.NavigationType,
                                is_main_frame: bool) -> bool:
        qurl = url if isinstance(url, QUrl) else QUrl(url)
        if not self._done:
            self._done = True
            raw = qurl.toString(QUrl.ComponentFormattingOption.FullyEncoded)
            self._route(qurl, self._decider.popup(raw))
            self.deleteLater()
        return False
