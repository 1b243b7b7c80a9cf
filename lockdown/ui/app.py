"""Bootstrap: sanitised Qt start, the exam profile, the kiosk window, orderly teardown."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from lockdown import log, paths
from lockdown.policy.decide import Decider
from lockdown.policy.settings import Policy
from lockdown.policy.urls import parse_url
from lockdown.sanitize import SanitiseReport, qt_argv

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from lockdown.cli import Options
    from lockdown.demo.site import DemoSite
    from lockdown.ui.cookies import CookieMirror
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

    if os.name == "posix":  # a pipe does, and spares the socket module's import at start
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        ends: tuple[object, object] = (os.fdopen(read_fd, "rb", buffering=0),
                                       os.fdopen(write_fd, "wb", buffering=0))
        receive: Callable[[], bytes | None] = functools.partial(os.read, read_fd, 64)
    else:  # Windows: set_wakeup_fd takes only a socket
        import socket

        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        ends, read_fd, write_fd = (reader, writer), reader.fileno(), writer.fileno()
        receive = functools.partial(reader.recv, 64)
    signal.set_wakeup_fd(write_fd)
    # SIGBREAK: how Windows delivers Ctrl+Break (what IT tools and the smoke test can send).
    for signum in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGBREAK", signal.SIGTERM)):
        signal.signal(signum, lambda *_: None)
    notifier = QSocketNotifier(read_fd, QSocketNotifier.Type.Read)

    def drain() -> None:
        try:
            data = receive()
        except BlockingIOError:
            return
        if data:
            on_signal(data[0])  # type: ignore[operator]

    notifier.activated.connect(drain)
    return (ends, notifier)


@dataclass
class Session:
    """Everything one exam session is made of; integrations receive it to plug in."""

    app: QApplication
    policy: Policy
    decider: Decider
    profile: ExamProfile
    window: KioskWindow
    downloads: DownloadManager
    #: Set by an integration to restart the app with these arguments once the session is over
    #: (a new SEB configuration from an in-page seb:// link).
    restart_args: list[str] | None = None
    #: The profile's cookies, for the features that send requests with the student's session;
    #: mirrored from before the first page loads.
    cookies: CookieMirror = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        from lockdown.ui.cookies import CookieMirror

        profile = self.profile.profile
        self.cookies = CookieMirror(profile.cookieStore(),
                                    Path(profile.persistentStoragePath()) / "Cookies")


#: An integration (exam protocols, environment checks, attempt journal) plugs into a session
#: and returns what to undo at exit, in reverse order.
Integration = Callable[[Session], Callable[[], None] | None]


def exam_protocols_needed_first(policy: Policy, options: Options) -> bool:
    """Whether the first request already needs exam protocol headers, scripts or agent."""
    return bool(options.launch_link or options.reconfigure or policy.seb_config_key
                or policy.seb_browser_exam_key)


def integrations(*, protocols_first: bool = True) -> list[Integration]:
    """Features that must be in place before the first request, in order.

    The attempt journal's page hook is always here: the start page may be the exam itself, and
    the hook must wrap the SCORM API before the page's scripts run (the journal itself opens
    on the first answer, see :mod:`lockdown.ui.journal_front`).
    """
    from lockdown.ui import journal_front

    if not protocols_first:
        return [journal_front.install]
    from lockdown.ui import exam_protocols

    return [exam_protocols.install, journal_front.install]


def deferred_integrations(options: Options, *, protocols_first: bool) -> list[Integration]:
    """Features installed once the start page has settled (``KioskWindow.start_page_settled``).

    Their imports and set-up cost ~150 ms on the GUI thread, where Qt 6 also runs the request
    interceptor: installing them first would delay the start page, which must load at once.
    The environment guard (crash repair, keyboard grab, checks) still replaces the page with
    the check view as soon as a check the policy sets to deny has run. Without a Numbas link or
    SEB keys the exam protocols only handle in-page seb:// links: those are claimed here, and
    their machinery loads at the first one (:mod:`lockdown.ui.inpage_seb`).
    """
    from lockdown.ui import clipboard_guard, environment, inpage_seb

    installs: list[Integration] = [environment.install, clipboard_guard.install]
    if not protocols_first:
        installs.append(functools.partial(inpage_seb.install, options=options))
    return installs


def build_session(app: QApplication, policy: Policy, *, defer_kiosk: bool = False) -> Session:
    """Profile, decider and window for a policy (also used by the integration tests).

    ``defer_kiosk``: see :meth:`KioskWindow.make_kiosk`."""
    from lockdown.ui.downloads import DownloadManager
    from lockdown.ui.profile import ExamProfile
    from lockdown.ui.window import KioskWindow

    decider = Decider(policy)
    exam_profile = ExamProfile(paths.profile_name(), paths.profile_dir(), decider,
                               home=policy.start_url)
    downloads = DownloadManager(decider, paths.downloads_dir())
    exam_profile.profile.downloadRequested.connect(downloads.on_download)
    host = parse_url(policy.start_url).host
    window = KioskWindow(exam_profile, decider, downloads, host_label=host,
                         defer_kiosk=defer_kiosk)
    return Session(app, policy, decider, exam_profile, window, downloads)


def _while_loading(session: Session, options: Options) -> None:
    """The rest of the start, while the start page loads.

    Everything the first request needs (policy, interceptor, page, journal hook) is in place
    before ``load``; these steps are not, and Chromium loads the page in its own threads and
    processes meanwhile. The warm-up thread first prepares PySide6's ``Qt`` namespace (see
    :mod:`lockdown.ui.warmup`); then the steps run one per event-loop turn, each short, so the
    GUI thread, where Qt 6 also runs the request interceptor, is never held up for long.
    """
    from lockdown.ui import refguard
    from lockdown.ui.warmup import Warmup

    window = session.window

    def may_go_on() -> bool:
        if window.ending and window.isHidden():  # ended before it was shown: no window will close
            session.app.quit()
        return not window.ending

    steps: list[Callable[[], object]] = [
        window.make_kiosk,
        window.show_kiosk,
        refguard.immortalise,  # PySide6 6.12 + Python 3.11 would otherwise free None mid-exam
    ]
    warmup = Warmup()  # the window's first step needs what the thread prepares
    warmup.done.connect(lambda: _one_per_turn(steps, may_go_on))
    warmup.start()


def _one_per_turn(steps: list[Callable[[], object]], may_go_on: Callable[[], bool]) -> None:
    """Run ``steps`` in order, one per event-loop turn, while ``may_go_on()`` says so: input,
    paint and the request interceptor (Qt 6 runs it on the GUI thread) get in between."""
    from PySide6.QtCore import QTimer

    def next_step() -> None:
        if steps and may_go_on():
            steps.pop(0)()
            QTimer.singleShot(0, next_step)

    QTimer.singleShot(0, next_step)


def _start_logging(policy: Policy, options: Options, report: SanitiseReport) -> None:
    log_file = Path(options.log_file) if options.log_file else (
        Path(policy.log_file) if policy.log_file else paths.log_dir() / "lockdown.log")
    log.configure(options.log_format or policy.log_format, log_file)
    _log_sanitised(report)
    if os.environ.get("QTWEBENGINE_DISABLE_SANDBOX") == "1":
        log.event("security.sandbox_disabled", "Chromium sandbox disabled by"
                  " QTWEBENGINE_DISABLE_SANDBOX=1 (the app never does this itself)", level=WARNING)


def _gpu_switches(policy: Policy) -> tuple[str, ...]:
    from lockdown.gpu import gpu_choice, has_render_node

    choice = gpu_choice(policy.gpu_acceleration, system=sys.platform,
                        qt_platform=os.environ.get("QT_QPA_PLATFORM", ""),
                        render_node=has_render_node())
    log.event("engine.gpu", "GPU off: software rendering" if choice.switches
              else "GPU left to Chromium", reason=choice.reason)
    return choice.switches


def _start_demo(policy: Policy) -> tuple[Policy, DemoSite]:
    from lockdown.demo.site import DemoSite

    site = DemoSite()
    site.start()
    log.event("demo.started", "embedded demo exam site", site=site.base_url,
              idp=site.idp_base_url)
    return demo_policy(policy, site), site


def application_class(platform: str = sys.platform) -> type[QApplication]:
    """macOS hands links to a running app as events (:mod:`lockdown.ui.url_open`); Windows
    and Linux start a new process with the link in argv."""
    if platform == "darwin":
        from lockdown.ui.url_open import LinkAwareApplication

        return LinkAwareApplication
    from PySide6.QtWidgets import QApplication

    return QApplication


def _restart_on_os_links(session: Session, options: Options,
                         platform: str = sys.platform) -> None:
    """macOS: a link the OS opens ends this session and restarts the app with it."""
    if platform != "darwin":
        return
    from lockdown.ui.url_open import LinkAwareApplication, restart_args_for

    if not isinstance(session.app, LinkAwareApplication):
        return

    def open_link(link: str) -> None:
        session.restart_args = restart_args_for(link, options.restart_args)
        session.window.end_session("os-link")

    session.app.on_link = open_link


def _resolve_launch(policy: Policy, options: Options) -> Policy:
    """The exam layer of a launch link or .seb file (dialogs need the app; exits 2 on error);
    also records the launch for the exam protocols integration."""
    from lockdown.ui.numbas_password import resolve_launch_or_exit

    return resolve_launch_or_exit(policy, options)


class _Integrations:
    """Installs a session's integrations (some once the start page is up) and undoes them."""

    def __init__(self, session: Session, options: Options) -> None:
        self._session = session
        self._options = options
        self._protocols_first = exam_protocols_needed_first(session.policy, options)
        self._cleanups = self._install(integrations(protocols_first=self._protocols_first))
        session.window.start_page_settled.connect(self._install_deferred)

    def _install(self, installs: list[Integration]) -> list[Callable[[], None]]:
        return [c for install in installs if (c := install(self._session)) is not None]

    def _install_deferred(self) -> None:
        installs = deferred_integrations(self._options, protocols_first=self._protocols_first)
        _one_per_turn([functools.partial(self._install_one, i) for i in installs],
                      lambda: not self._session.window.isHidden())

    def _install_one(self, install: Integration) -> None:
        self._cleanups += self._install([install])

    def undo(self) -> None:
        for cleanup in reversed(self._cleanups):
            cleanup()


def _leave(code: int, session: Session) -> NoReturn:
    """Orderly exit: pages before their profile, then the QApplication, then the process."""
    import shiboken6

    session.cookies.disconnect_store()
    shiboken6.delete(session.window)
    shiboken6.delete(session.profile.profile)
    # Deleting the QApplication runs Qt WebEngine's own shutdown, which is what writes the
    # cookie store and localStorage to disk; os._exit below would otherwise lose recent changes.
    shiboken6.delete(session.app)
    if session.restart_args is not None:
        from lockdown.ui.exam_protocols import reexec

        reexec(session.restart_args)  # never returns
    log.event("app.exit", "lockdown exited", code=code)
    # Everything is saved and closed. Leave without Python finalisation: PySide6 6.12's
    # teardown of WebEngine wrappers there can abort ("bool_dealloc"), which would turn a clean
    # exit into SIGABRT for the OS and for IT's monitoring.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(policy: Policy, options: Options, report: SanitiseReport) -> int:
    """Start the browser and run the session; the process ends inside (see :func:`_leave`)."""
    _start_logging(policy, options, report)
    site: DemoSite | None = None
    if options.demo:
        policy, site = _start_demo(policy)

    from lockdown.ui.internal_pages import register_scheme

    register_scheme()
    app = application_class()(qt_argv(sys.argv[0] if sys.argv else "lockdown",
                                      _gpu_switches(policy)))
    app.setApplicationName("lockdown")
    app.setQuitOnLastWindowClosed(True)
    if exam_protocols_needed_first(policy, options):
        from lockdown.ui import refguard

        refguard.immortalise()  # before the launch dialogs' Qt calls (see _while_loading)
        policy = _resolve_launch(policy, options)
    session = build_session(app, policy, defer_kiosk=True)
    installed = _Integrations(session, options)
    window = session.window
    _restart_on_os_links(session, options)  # macOS sends a launch link's FileOpen event early
    wakeup = _install_signal_wakeup(lambda signum: window.end_session(f"signal {signum}"))
    log.event("app.start", "lockdown started", start_url=policy.start_url,
              profile=str(paths.profile_dir()), pid=os.getpid())
    window.load(policy.start_url)
    _while_loading(session, options)
    code = app.exec()
    installed.undo()
    del wakeup
    if site is not None:
        site.stop()
    _leave(code, session)
