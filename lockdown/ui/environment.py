"""OS lockdown steps and environment checks, plugged into a running session.

``install(session)`` is the session integration (see ``lockdown.ui.app.integrations``). In order:

1. repair what a crashed exam left applied (``StepRunner.recover`` with the crash marker);
2. apply this OS's lockdown steps (keyboard, screen capture, clipboard), restored in reverse by the
   returned cleanup; on X11 the keyboard grab is held by :class:`KeyboardKeeper`;
3. keep the window fullscreen and take the focus back from other programs (:class:`KioskGuard`);
4. run the environment checks in a worker thread, so the start page loads at once. Warnings go to
   the status strip and the log; a check the policy sets to ``deny`` replaces the web view with the
   :class:`~lockdown.ui.check_view.CheckView` until it passes;
5. recheck prohibited programs every few seconds (off the GUI thread) and the displays whenever a
   screen is added or removed.

The decisions are ``lockdown.platform``'s; this module only feeds it Qt facts and shows results.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QClipboard, QGuiApplication
from PySide6.QtWidgets import QApplication, QBoxLayout, QMessageBox, QPushButton

from lockdown import log, paths
from lockdown.platform.base import (
    LockdownStep,
    MarkerError,
    MarkerInUseError,
    PlatformError,
    StepFailedError,
    StepRunner,
)
from lockdown.platform.checks import (
    DEFAULT_PROHIBITED_PROCESSES,
    CheckResult,
    EnvironmentCheck,
    EnvironmentPolicy,
    blocks_start,
    check_displays,
    run_checks,
    step_result_to_check,
)
from lockdown.platform.factory import (
    checks_for_current_os,
    crash_restorers_for_current_os,
    steps_for_current_os,
)
from lockdown.platform.processes import (
    ProcessCheck,
    ProcessInfo,
    ProcessMatch,
    TerminationReport,
    check_processes,
    list_processes,
    terminate_processes,
)
from lockdown.platform.steps import UnsupportedStep
from lockdown.policy.settings import Policy
from lockdown.ui.check_view import SEVERITY, CheckView, check_title
from lockdown.ui.kiosk_guard import KeyboardKeeper, KioskGuard

if TYPE_CHECKING:
    from lockdown.ui.app import Session

PROCESS_RECHECK_MS = 5_000
CHECKS_TIMEOUT_S = 5.0
_LEVELS = {"pass": logging.INFO, "warn": logging.WARNING, "error": logging.WARNING,
           "deny": logging.ERROR}

T = TypeVar("T")
ChecksFactory = Callable[[EnvironmentPolicy, Callable[[], int]], list[EnvironmentCheck]]


def environment_policy(policy: Policy) -> EnvironmentPolicy:
    """The platform knobs from the app's settings; the policy's process list extends the built-in.

    Raises :class:`lockdown.platform.checks.PolicyValueError` (with a readable message) for values
    the platform code refuses, e.g. ``max_displays = 0``.
    """
    extra = tuple(p for p in policy.prohibited_processes if p not in DEFAULT_PROHIBITED_PROCESSES)
    return EnvironmentPolicy(
        vm=policy.vm_check,
        remote_session=policy.remote_session_check,
        multiple_displays=policy.multiple_displays_check,
        max_displays=policy.max_displays,
        prohibited_processes=DEFAULT_PROHIBITED_PROCESSES + extra,
        prohibited_process_action=policy.prohibited_process_action,
        clear_clipboard=policy.clear_clipboard,
        allowed_hostnames=policy.allowed_hostnames,
        allowed_hypervisors=policy.allowed_hypervisors,
    )


def clear_clipboard() -> None:
    """Empty every clipboard Qt has here: the clipboard, X11's selection, macOS's find buffer."""
    clipboard = QGuiApplication.clipboard()
    clipboard.clear(QClipboard.Mode.Clipboard)
    if clipboard.supportsSelection():
        clipboard.clear(QClipboard.Mode.Selection)
    if clipboard.supportsFindBuffer():
        clipboard.clear(QClipboard.Mode.FindBuffer)


def screen_count() -> int:
    """Connected displays as Qt sees them (GUI thread only)."""
    return len(QGuiApplication.screens())


def _default_checks(policy: EnvironmentPolicy, display_count: Callable[[], int]
                    ) -> list[EnvironmentCheck]:
    return checks_for_current_os(policy, display_count=display_count)


def _in_thread(name: str, work: Callable[[], T], deliver: Callable[[T], None]) -> None:
    """Run ``work`` in a daemon thread and hand its value to ``deliver`` (a signal's emit).

    ``work`` must not raise. If the receiver is gone (the app is closing), the value is dropped.
    """

    def target() -> None:
        value = work()
        with contextlib.suppress(RuntimeError):  # "Internal C++ object already deleted"
            deliver(value)

    threading.Thread(target=target, name=name, daemon=True).start()


class _Relay(QObject):
    """Carries worker-thread results into the GUI thread (queued signal connections)."""

    checks_done = Signal(object)
    processes_done = Signal(object)
    programs_closed = Signal(object)


class EnvironmentGuard(QObject):
    """The lockdown steps, the checks' state, the check view and the periodic rechecks.

    ``start()`` never waits for a check; ``close()`` stops the rechecks and restores the steps.
    The keyword arguments exist for tests (a slow check, a fake process list, a fast recheck).
    """

    def __init__(
        self,
        session: Session,
        *,
        marker_dir: Path | None = None,
        checks: ChecksFactory = _default_checks,
        display_count: Callable[[], int] = screen_count,
        process_lister: Callable[[], Iterable[ProcessInfo]] = list_processes,
        recheck_interval_ms: int = PROCESS_RECHECK_MS,
        checks_timeout_s: float = CHECKS_TIMEOUT_S,
        platform: str = sys.platform,
    ) -> None:
        super().__init__()
        self._session = session
        self._window = session.window
        self._marker_dir = marker_dir
        self._checks_factory = checks
        self._display_count = display_count
        self._process_lister = process_lister
        self._checks_timeout_s = checks_timeout_s
        self._platform = platform
        self._policy: EnvironmentPolicy | None = None
        self._runner: StepRunner | None = None
        self._keyboard: KeyboardKeeper | None = None
        self._kiosk: KioskGuard | None = None
        self._checks: dict[str, CheckResult] = {}
        self._setup: list[CheckResult] = []  # recovery, policy and lockdown-step results
        self._checks_running = False
        self._process_running = False
        self._matches: tuple[ProcessMatch, ...] = ()
        self._declined: frozenset[int] = frozenset()
        self._closed = False
        self._screens_app: QGuiApplication | None = None
        self._status_text = ""
        self.blocked = False
        self.consent_box: QMessageBox | None = None
        self._relay = _Relay(self)
        queued = Qt.ConnectionType.QueuedConnection
        self._relay.checks_done.connect(self._checks_finished, queued)
        self._relay.processes_done.connect(self._processes_checked, queued)
        self._relay.programs_closed.connect(self._programs_closed, queued)
        self.view = CheckView(self._window)
        self.view.setVisible(False)
        self.view.check_again.connect(self.run_checks)
        self.view.close_programs.connect(self.ask_to_close_programs)
        self.view.back_to_exam.connect(self.hide_view)
        self.view.quit_requested.connect(self._window.request_quit)
        layout = self._window.layout()
        if isinstance(layout, QBoxLayout):
            layout.insertWidget(layout.indexOf(self._window.view) + 1, self.view, 1)
        status = self._window.status
        self.checks_button = QPushButton("Checks…")
        self.checks_button.setObjectName("checksButton")
        self.checks_button.clicked.connect(self.show_view)
        status_layout = status.layout()
        if isinstance(status_layout, QBoxLayout):
            status_layout.insertWidget(status_layout.indexOf(status.downloads), self.checks_button)
        self._recheck = QTimer(self)
        self._recheck.setInterval(recheck_interval_ms)
        self._recheck.timeout.connect(self.recheck_processes)

    # -- start and stop ---------------------------------------------------------------------
    def start(self) -> None:
        """Recover, apply the steps, start the guards and the checks (which finish later)."""
        try:
            self._policy = environment_policy(self._session.policy)
        except PlatformError as exc:
            log.event("environment.policy_invalid", str(exc), level=logging.ERROR)
            self._setup.append(CheckResult(
                "policy", "deny", f"The exam policy cannot be used: {exc}",
                "Ask the invigilator or IT support: the exam's settings need fixing."))
            self._refresh()
            return
        if self._recover():
            policy = self._policy
            if self._window.isVisible():
                self._apply_steps(policy)
            else:
                # The app shows the window after the integrations are installed; native steps
                # (the macOS window's sharing type, the X11 grab) need it shown: apply then.
                QTimer.singleShot(0, self, lambda: self._apply_steps(policy))
        self._kiosk = KioskGuard(self._window)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.screenAdded.connect(self._screens_changed)
            app.screenRemoved.connect(self._screens_changed)
            self._screens_app = app
        self.run_checks()
        self._recheck.start()

    def close(self) -> None:
        """Stop rechecking and undo the lockdown steps in reverse (the session's cleanup)."""
        if self._closed:
            return
        self._closed = True
        self._recheck.stop()
        if self._screens_app is not None:
            self._screens_app.screenAdded.disconnect(self._screens_changed)
            self._screens_app.screenRemoved.disconnect(self._screens_changed)
            self._screens_app = None
        if self._kiosk is not None:
            self._kiosk.stop()
        if self._runner is not None:
            failures = self._runner.restore_all()
            for failure in failures:
                log.event("lockdown.restore_failed", "a lockdown step could not be undone",
                          level=logging.ERROR, step=failure.name, error=failure.error)
            log.event("lockdown.restored", "lockdown steps undone", failed=len(failures))
            self._runner = None

    def _marker_folder(self) -> Path:
        return self._marker_dir if self._marker_dir is not None else paths.data_dir()

    def _recover(self) -> bool:
        """Repair a crashed exam's steps. False when another live session owns the marker."""
        try:
            report = StepRunner.recover(self._marker_folder(), crash_restorers_for_current_os())
        except MarkerInUseError as exc:
            log.event("lockdown.in_use", str(exc), level=logging.ERROR)
            self._setup.append(CheckResult(
                "lockdown", "deny",
                "Another exam browser is already running for this account on this computer.",
                "Close the other exam browser window, then start this one again."))
            return False
        except MarkerError as exc:
            log.event("lockdown.recover_failed", str(exc), level=logging.ERROR)
            self._setup.append(CheckResult(
                "lockdown", "warn", str(exc), "Tell the invigilator or IT support."))
            return True
        if report.found:
            level = logging.WARNING if report.complete else logging.ERROR
            log.event("lockdown.recovered", "repaired what a crashed exam left applied",
                      level=level, restored=list(report.restored),
                      ended_with_process=list(report.ended_with_process),
                      unknown=list(report.unknown),
                      failed=[f"{f.name}: {f.error}" for f in report.failed])
        return True

    def _steps(self, policy: EnvironmentPolicy) -> list[LockdownStep]:
        window_id = int(self._window.winId())
        if self._platform in ("win32", "darwin"):
            return steps_for_current_os(policy, window_id=window_id,
                                        clear_clipboard=clear_clipboard, platform=self._platform)
        if QGuiApplication.platformName() != "xcb":
            # Wayland, offscreen...: no client may hold the keyboard (the desktop-session check
            # tells the student); say so instead of claiming a grab.
            steps = steps_for_current_os(policy, window_id=window_id, grab_keyboard=_nothing,
                                         release_keyboard=_nothing,
                                         clear_clipboard=clear_clipboard, platform=self._platform)
            unsupported = UnsupportedStep(
                "keyboard", "This display server does not let the exam window hold the keyboard.")
            return [unsupported if s.name == "keyboard" else s for s in steps]
        self._keyboard = KeyboardKeeper(self._window)
        return steps_for_current_os(policy, window_id=window_id,
                                    grab_keyboard=self._keyboard.grab,
                                    release_keyboard=self._keyboard.release,
                                    clear_clipboard=clear_clipboard, platform=self._platform)

    def _apply_steps(self, policy: EnvironmentPolicy) -> None:
        if self._closed:
            return
        try:
            self._apply(policy)
        finally:
            self._refresh()

    def _apply(self, policy: EnvironmentPolicy) -> None:
        try:
            runner = StepRunner(self._steps(policy), self._marker_folder())
            results = runner.apply_all()
        except StepFailedError as exc:
            log.event("lockdown.failed", str(exc), level=logging.ERROR, step=exc.step)
            self._setup += [step_result_to_check(r) for r in exc.results]
            return
        except (PlatformError, OSError) as exc:  # a native library or the marker failed
            log.event("lockdown.failed", str(exc), level=logging.ERROR)
            self._setup.append(CheckResult("lockdown", "error", str(exc),
                                           "Ask the invigilator or IT support for help."))
            return
        self._runner = runner
        for result in results:
            log.event("lockdown.step", result.detail, step=result.name, status=result.status)
        self._setup += [step_result_to_check(r) for r in results]
        log.event("lockdown.applied", "lockdown steps applied", steps=list(runner.applied),
                  marker=str(runner.marker_path))

    # -- environment checks -----------------------------------------------------------------
    def run_checks(self) -> None:
        """Run every check in a worker thread; results arrive in :meth:`_checks_finished`."""
        if self._checks_running or self._closed or self._policy is None:
            return
        self._checks_running = True
        count = self._display_count()  # Qt's screen list: GUI thread only, so read it here
        checks = self._checks_factory(self._policy, lambda: count)
        timeout = self._checks_timeout_s
        self._refresh()
        _in_thread("environment-checks", lambda: run_checks(checks, timeout_s=timeout),
                   self._relay.checks_done.emit)

    def _checks_finished(self, results: list[CheckResult]) -> None:
        self._checks_running = False
        if self._closed:
            return
        for result in results:
            self._record(result)
        log.event("environment.checks_done", "environment checks finished",
                  blocking=blocks_start(self.results()),
                  problems=[r.name for r in self.results() if r.status != "pass"])
        self._refresh()
        self.recheck_processes()  # the matches, which the terminate policy needs to offer closing

    def _record(self, result: CheckResult) -> None:
        """Keep a result; log it when it is new or changed (rechecks repeat every few seconds)."""
        if self._checks.get(result.name) == result:
            return
        self._checks[result.name] = result
        log.event("environment.check", f"{check_title(result.name)}: {result.status}",
                  level=_LEVELS[result.status], check=result.name, status=result.status,
                  detail=result.detail, advice=result.advice)

    def results(self) -> list[CheckResult]:
        """Every result the view lists: the checks, then the lockdown steps."""
        return [*self._checks.values(), *self._setup]

    def _screens_changed(self) -> None:
        # screenRemoved is emitted while the screen is still listed: count a tick later.
        QTimer.singleShot(0, self, self._recount_displays)

    def _recount_displays(self) -> None:
        if self._closed or self._policy is None:
            return
        self._record(check_displays(self._display_count(), self._policy))
        self._refresh()

    # -- prohibited programs ----------------------------------------------------------------
    def recheck_processes(self) -> None:
        """Look for prohibited programs in a worker thread (skipped while one is running)."""
        if self._process_running or self._closed or self._policy is None:
            return
        self._process_running = True
        policy, lister = self._policy, self._process_lister

        def work() -> ProcessCheck:
            try:
                return check_processes(policy, lister=lister)
            except Exception as exc:
                return ProcessCheck(CheckResult(
                    "prohibited-processes", "error", f"The check could not run: {exc}",
                    "Try again; if it keeps happening, tell the invigilator."), ())

        _in_thread("process-check", work, self._relay.processes_done.emit)

    def _processes_checked(self, check: ProcessCheck) -> None:
        self._process_running = False
        if self._closed or self._policy is None:
            return
        self._matches = check.matches
        self._record(check.result)
        self._refresh()
        pids = frozenset(m.process.pid for m in check.matches)
        if (self._policy.prohibited_process_action == "terminate" and pids
                and not pids <= self._declined):
            self.ask_to_close_programs()

    def ask_to_close_programs(self) -> None:
        """Ask the student whether to close the prohibited programs (policy ``terminate``).

        Never over another dialog of the app (the quit dialog, a print dialog): the next recheck
        asks again. The box is window-modal and not run in a nested event loop.
        """
        if not self._matches or self.consent_box is not None:
            return
        if QApplication.activeModalWidget() is not None:
            return
        matches = self._matches
        names = sorted({m.process.display_name for m in matches}, key=str.lower)
        box = QMessageBox(self._window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Programs not allowed during the exam")
        box.setText("These programs are not allowed while the exam runs:\n\n"
                    + "\n".join(f"• {n}" for n in names)
                    + "\n\nClose them now? Unsaved work in them may be lost.")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Close them")
        box.button(QMessageBox.StandardButton.No).setText("Not now")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.finished.connect(lambda code: self._consent_answered(box, code, matches))
        self.consent_box = box
        log.event("environment.consent_asked", "asked to close prohibited programs",
                  programs=names)
        box.open()

    def _consent_answered(self, box: QMessageBox, code: int,
                          matches: tuple[ProcessMatch, ...]) -> None:
        self.consent_box = None
        box.deleteLater()
        agreed = code == QMessageBox.StandardButton.Yes.value
        log.event("environment.consent", "student answered", agreed=agreed)
        if not agreed:
            self._declined = frozenset(m.process.pid for m in matches)
            return
        _in_thread("close-programs", lambda: _terminate(matches),
                   self._relay.programs_closed.emit)

    def _programs_closed(self, report: TerminationReport) -> None:
        log.event("environment.programs_closed", "closed prohibited programs",
                  level=logging.WARNING if report.failed else logging.INFO,
                  closed=list(report.closed), failed=[f"{n}: {why}" for n, why in report.failed])
        self.recheck_processes()

    # -- what the student sees --------------------------------------------------------------
    def show_view(self) -> None:
        """The check view in place of the exam (from the status strip's Checks button)."""
        self._render_view()
        self._window.view.setVisible(False)
        self.view.setVisible(True)
        self.view.check_again_button.setFocus()

    def hide_view(self) -> None:
        """Back to the exam; refused while a denied check blocks it."""
        if self.blocked:
            return
        self.view.setVisible(False)
        self._window.view.setEnabled(True)
        self._window.view.setVisible(True)
        self._window.view.setFocus()

    def _render_view(self) -> None:
        can_close = (self._policy is not None and bool(self._matches)
                     and self._policy.prohibited_process_action == "terminate")
        self.view.show_results(self.results(), blocking=self.blocked,
                               running=self._checks_running, can_close_programs=can_close)

    def _refresh(self) -> None:
        """Bring the block, the view and the status strip in line with the results."""
        results = self.results()
        blocking = blocks_start(results)
        if blocking and not self.blocked:
            self.blocked = True
            log.event("environment.blocked", "a denied check stops the exam", level=logging.ERROR,
                      checks=[r.name for r in results if r.status == "deny"])
            self._window.view.setEnabled(False)
            self.show_view()
        elif not blocking and self.blocked:
            self.blocked = False
            log.event("environment.unblocked", "the denied checks pass now; back to the exam")
            self.hide_view()
        self._render_view()
        self._update_status(results)

    def _update_status(self, results: Sequence[CheckResult]) -> None:
        problems = sorted((r for r in results if r.status != "pass"),
                          key=lambda r: SEVERITY[r.status])
        denied = [r for r in problems if r.status == "deny"]
        if self._checks_running and not self._checks:
            self.checks_button.setText("Checking…")
        elif denied:
            self.checks_button.setText(f"Checks ({len(denied)} not allowed)")
        elif problems:
            noun = "warning" if len(problems) == 1 else "warnings"
            self.checks_button.setText(f"Checks ({len(problems)} {noun})")
        else:
            self.checks_button.setText("Checks ✔")
        message = self._window.status.message
        if problems:
            # Short: a long label would widen the status strip past the screen; details in the
            # tooltip and the check view.
            more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
            text = f"⚠ {check_title(problems[0].name)}{more} (see Checks)"
            message.setText(text)
            message.setToolTip("\n".join(f"{check_title(r.name)}: {r.detail}" for r in problems))
            self._status_text = text
        elif self._status_text and message.text() == self._status_text:
            message.setText("")  # ours and out of date; other parts' messages stay
            message.setToolTip("")
            self._status_text = ""


def _nothing() -> None:
    """A keyboard grab where none is possible (the step is reported as unsupported)."""


def _terminate(matches: Sequence[ProcessMatch]) -> TerminationReport:
    try:
        return terminate_processes(matches, consent=True)
    except Exception as exc:
        return TerminationReport((), tuple((m.process.display_name, str(exc)) for m in matches))


def install(session: Session) -> Callable[[], None]:
    """The session integration: lockdown steps, kiosk guards and environment checks."""
    guard = EnvironmentGuard(session)
    guard.start()
    return guard.close
