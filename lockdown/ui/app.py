"""Bootstrap: sanitised Qt start, the exam profile, the kiosk window, orderly teardown."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lockdown import log, paths
from lockdown.policy.decide import Decider
from lockdown.policy.settings import Policy
from lockdown.policy.urls import parse_url
from lockdown.sanitize import SanitiseReport, qt_argv

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from lockdown.cli import Options
    from lockdown.demo.site import DemoSite
    from lockdown.ui.downloads import DownloadManager
    from lockdown.ui.profile import ExamProfile
    from lockdown.ui.window import KioskWindow

WARNING = 30


def demo_policy(policy: Policy, site: DemoSite) -> Policy:
    """The policy for the embedded demo site: its host, its IdP during login, staff transfers."""
    staff = f"{site.base_url.rstrip('/')}/staff/*"
    return dataclasses.replace(
        policy,
        start_url=site.start_url,
        allowed_hosts=(site.site_netloc,),
        idp_hosts=(site.idp_netloc,),
        login_paths=(site.login_path,),
        downloads_allowed_on=(staff,),
        uploads_allowed_on=(staff,),
    )


def _log_sanitised(report: SanitiseReport) -> None:
    for name in report.removed_env:
        log.event("security.env_removed", "removed a devtools/engine variable", level=WARNING,
                  variable=name)
    for arg in report.removed_args:
        log.event("security.arg_removed", "removed a devtools/engine argument", level=WARNING,
                  argument=arg)


def _install_signal_wakeup(on_signal: object) -> object:
    """Let SIGTERM/SIGINT end the session cleanly while Qt's event loop runs."""
    from PySide6.QtCore import QSocketNotifier

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        try:
            data = reader.recv(64)
        except BlockingIOError:
            return
        if data:
            on_signal(data[0])  # type: ignore[operator]

    notifier.activated.connect(drain)
    return (reader, writer, notifier)


@dataclass
class Session:
    """Everything one exam session is made of; integrations receive it to plug in."""

    app: QApplication
    policy: Policy
    decider: Decider
    profile: ExamProfile
    window: KioskWindow
    downloads: DownloadManager


#: An integration (exam protocols, environment checks, attempt journal) plugs into a session
#: and returns what to undo at exit, in reverse order.
Integration = Callable[[Session], Callable[[], None] | None]


def integrations() -> list[Integration]:
    """The features that plug into every session, in order (cleanups run in reverse).

    Exam protocols come first: its cleanup may re-exec the app for a new SEB configuration, so
    it must run last. The environment guard repairs a crashed session's OS state as it installs.
    """
    from lockdown.ui import environment, exam_protocols

    return [exam_protocols.install, environment.install]


def build_session(app: QApplication, policy: Policy) -> Session:
    """Profile, decider and window for a policy (also used by the integration tests)."""
    from lockdown.ui.downloads import DownloadManager
    from lockdown.ui.profile import ExamProfile
    from lockdown.ui.window import KioskWindow

    decider = Decider(policy)
    exam_profile = ExamProfile(paths.profile_name(), paths.profile_dir(), decider,
                               home=policy.start_url)
    downloads = DownloadManager(decider, paths.downloads_dir())
    exam_profile.profile.downloadRequested.connect(downloads.on_download)
    host = parse_url(policy.start_url).host
    window = KioskWindow(exam_profile, decider, downloads, host_label=host)
    return Session(app, policy, decider, exam_profile, window, downloads)


def run(policy: Policy, options: Options, report: SanitiseReport) -> int:
    """Start the browser; returns the process exit code."""
    log_file = Path(options.log_file) if options.log_file else (
        Path(policy.log_file) if policy.log_file else paths.log_dir() / "lockdown.log")
    log.configure(options.log_format or policy.log_format, log_file)
    _log_sanitised(report)
    if os.environ.get("QTWEBENGINE_DISABLE_SANDBOX") == "1":
        log.event("security.sandbox_disabled", "Chromium sandbox disabled by"
                  " QTWEBENGINE_DISABLE_SANDBOX=1 (the app never does this itself)", level=WARNING)

    site: DemoSite | None = None
    if options.demo:
        from lockdown.demo.site import DemoSite

        site = DemoSite()
        site.start()
        policy = demo_policy(policy, site)
        log.event("demo.started", "embedded demo exam site", site=site.base_url,
                  idp=site.idp_base_url)

    from PySide6.QtWidgets import QApplication

    from lockdown.ui.internal_pages import register_scheme

    register_scheme()
    app = QApplication(qt_argv(sys.argv[0] if sys.argv else "lockdown"))
    app.setApplicationName("lockdown")
    app.setQuitOnLastWindowClosed(True)
    from lockdown.ui.numbas_password import resolve_launch_or_exit

    policy = resolve_launch_or_exit(policy, options)  # dialogs need the app; exits 2 on error
    session = build_session(app, policy)
    cleanups = [c for install in integrations() if (c := install(session)) is not None]
    window = session.window
    wakeup = _install_signal_wakeup(lambda signum: window.end_session(f"signal {signum}"))
    log.event("app.start", "lockdown started", start_url=session.policy.start_url,
              profile=str(paths.profile_dir()), pid=os.getpid())
    window.showFullScreen()
    window.view.setFocus()  # keys go to the page from the first moment
    window.load(session.policy.start_url)
    code = app.exec()
    for cleanup in reversed(cleanups):
        cleanup()
    # Pages must go before their profile, or Qt warns and may crash on exit.
    import shiboken6

    shiboken6.delete(window)
    shiboken6.delete(session.profile.profile)
    # Deleting the QApplication runs Qt WebEngine's own shutdown, which is what writes the
    # cookie store and localStorage to disk; os._exit below would otherwise lose recent changes.
    shiboken6.delete(app)
    del wakeup
    if site is not None:
        site.stop()
    log.event("app.exit", "lockdown exited", code=code)
    # Everything is saved and closed. Leave without Python finalisation: PySide6 6.12's
    # teardown of WebEngine wrappers there can abort ("bool_dealloc"), which would turn a clean
    # exit into SIGABRT for the OS and for IT's monitoring.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
