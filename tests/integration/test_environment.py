"""The environment integration in a real kiosk window (QtWebEngine offscreen, the demo site).

Checks run in a worker thread and never hold up the start page; only a check the policy sets to
deny replaces the exam with the check view. Prohibited programs are real dummy processes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from lockdown.platform import linux
from lockdown.platform.base import MARKER_NAME, StepRunner
from lockdown.platform.checks import (
    CheckResult,
    EnvironmentCheck,
    EnvironmentPolicy,
)
from lockdown.platform.factory import checks_for_current_os
from lockdown.platform.processes import ProcessInfo, list_processes
from lockdown.platform.steps import CallableStep
from lockdown.ui.app import Session
from lockdown.ui.environment import EnvironmentGuard, environment_policy
from tests.integration.conftest import Browser, EventLog

pytestmark = pytest.mark.integration

FORBIDDEN = "ldtest-forbidden"


def session_of(browser: Browser) -> Session:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return Session(app, browser.decider.policy, browser.decider, browser.profile,
                   browser.window, browser.downloads)


@pytest.fixture
def guard_for(tmp_path: Path) -> Iterator[Callable[..., EnvironmentGuard]]:
    """Start an EnvironmentGuard on a browser; closed (steps restored) after the test."""
    guards: list[EnvironmentGuard] = []

    def make(browser: Browser, **kwargs: Any) -> EnvironmentGuard:
        kwargs.setdefault("marker_dir", tmp_path / "marker")
        kwargs.setdefault("checks_timeout_s", 60.0)
        guard = EnvironmentGuard(session_of(browser), **kwargs)
        guards.append(guard)
        guard.start()
        return guard

    yield make
    for guard in guards:
        guard.close()


def consent_box(guard: EnvironmentGuard) -> QMessageBox | None:
    return guard.consent_box


def checks_done(events: EventLog, count: int = 1) -> Callable[[], bool]:
    return lambda: len(events.named("environment.checks_done")) >= count


@pytest.fixture
def dummy_program(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """Start ``cat`` copied as FORBIDDEN; the echoed line proves the exec is done."""
    started: list[subprocess.Popen[str]] = []
    if sys.platform == "win32":
        pytest.skip("uses POSIX cat")

    def start() -> subprocess.Popen[str]:
        source = shutil.which("cat")
        assert source is not None
        exe = tmp_path / FORBIDDEN
        if not exe.exists():
            shutil.copy2(source, exe)
        proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("ready\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "ready\n"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def test_a_slow_warning_check_never_holds_up_the_start_page(
        make_browser: Callable[..., Browser], guard_for: Callable[..., EnvironmentGuard],
        events: EventLog, qtbot: QtBot) -> None:
    gate = threading.Event()

    def slow() -> CheckResult:
        gate.wait(timeout=60)
        return CheckResult("slow-check", "warn", "The slow check found something odd.",
                           "Nothing to do.")

    def checks(policy: EnvironmentPolicy, count: Callable[[], int]) -> list[EnvironmentCheck]:
        return [*checks_for_current_os(policy, display_count=count),
                EnvironmentCheck("slow-check", slow)]

    browser = make_browser()
    guard = guard_for(browser, checks=checks)
    try:
        # The page loads while the slow check is still running.
        assert browser.load(browser.decider.policy.start_url)
        assert not events.named("environment.checks_done")
        assert guard.checks_button.text() == "Checking…"
        assert browser.window.view.isVisible() and browser.window.view.isEnabled()
        assert not guard.view.isVisible()
    finally:
        gate.set()
    qtbot.waitUntil(checks_done(events), timeout=30_000)

    logged = [e for e in events.named("environment.check") if e["check"] == "slow-check"]
    assert logged == [{"event": "environment.check", "message": "Slow check: warn",
                       "check": "slow-check", "status": "warn",
                       "detail": "The slow check found something odd.",
                       "advice": "Nothing to do."}]
    message = browser.window.status.message
    assert message.text().startswith("⚠ ")
    assert "Slow check: The slow check found something odd." in message.toolTip()
    assert guard.checks_button.text().startswith("Checks (")
    assert "warning" in guard.checks_button.text()
    # Still the exam: not blocked, the web view in place.
    assert not guard.blocked
    assert browser.window.view.isVisible() and not guard.view.isVisible()

    # The Checks button opens the view with every result, and the student can go back.
    guard.checks_button.click()
    assert guard.view.isVisible() and not browser.window.view.isVisible()
    assert guard.view.rows["slow-check"].property("status") == "warn"
    assert "displays" in guard.view.rows
    assert guard.view.back_button.isVisible()
    guard.view.back_button.click()
    assert browser.window.view.isVisible() and not guard.view.isVisible()


def test_vm_deny_stops_at_the_check_view(
        make_browser: Callable[..., Browser], guard_for: Callable[..., EnvironmentGuard],
        events: EventLog, qtbot: QtBot) -> None:
    finding = linux.detect_vm() if sys.platform.startswith("linux") else None
    if finding is None or not finding.is_vm:
        pytest.skip("this machine is not detected as a virtual machine, so vm_check=deny "
                    "cannot be exercised for real here")
    browser = make_browser(vm_check="deny")
    guard = guard_for(browser)
    qtbot.waitUntil(lambda: guard.blocked, timeout=30_000)

    assert guard.view.isVisible()
    assert not browser.window.view.isVisible()
    assert not browser.window.view.isEnabled()
    assert guard.view.rows["virtual-machine"].property("status") == "deny"
    assert "Not allowed" in guard.view.rows["virtual-machine"].text()
    assert not guard.view.back_button.isVisible()
    assert guard.view.quit_button.isVisible()
    blocked = events.named("environment.blocked")
    assert blocked and blocked[0]["checks"] == ["virtual-machine"]
    # There is no way back to the exam while the check is denied.
    guard.hide_view()
    assert guard.view.isVisible() and not browser.window.view.isVisible()
    # Checking again does not change the verdict.
    guard.view.check_again_button.click()
    qtbot.waitUntil(checks_done(events, 2), timeout=30_000)
    assert guard.blocked and not browser.window.view.isEnabled()


def test_process_recheck_warns_about_a_real_program_and_clears(
        make_browser: Callable[..., Browser], guard_for: Callable[..., EnvironmentGuard],
        dummy_program: Callable[[], subprocess.Popen[str]], events: EventLog,
        qtbot: QtBot) -> None:
    browser = make_browser(prohibited_processes=(FORBIDDEN,))
    guard = guard_for(browser, recheck_interval_ms=100)
    qtbot.waitUntil(checks_done(events), timeout=30_000)
    assert FORBIDDEN not in browser.window.status.message.toolTip()

    proc = dummy_program()
    qtbot.waitUntil(lambda: FORBIDDEN in browser.window.status.message.toolTip(),
                    timeout=15_000)
    warned = [e for e in events.named("environment.check")
              if e["check"] == "prohibited-processes" and e["status"] == "warn"]
    assert warned and FORBIDDEN in warned[-1]["detail"]
    assert not guard.blocked  # the default action only warns

    proc.kill()
    proc.wait(timeout=10)
    qtbot.waitUntil(lambda: FORBIDDEN not in browser.window.status.message.toolTip(),
                    timeout=15_000)
    assert [e for e in events.named("environment.check")
            if e["check"] == "prohibited-processes"][-1]["status"] == "pass"


def test_process_deny_blocks_until_the_program_is_gone(
        make_browser: Callable[..., Browser], guard_for: Callable[..., EnvironmentGuard],
        dummy_program: Callable[[], subprocess.Popen[str]], events: EventLog,
        qtbot: QtBot) -> None:
    browser = make_browser(prohibited_processes=(FORBIDDEN,), prohibited_process_action="deny")
    guard = guard_for(browser, recheck_interval_ms=100)
    qtbot.waitUntil(checks_done(events), timeout=30_000)
    assert browser.load(browser.decider.policy.start_url)
    proc = dummy_program()
    qtbot.waitUntil(lambda: guard.blocked, timeout=15_000)
    assert guard.view.isVisible() and not browser.window.view.isEnabled()
    assert guard.view.rows["prohibited-processes"].property("status") == "deny"
    assert not guard.view.close_programs_button.isVisible()  # deny: the student closes it

    proc.kill()
    proc.wait(timeout=10)
    qtbot.waitUntil(lambda: not guard.blocked, timeout=15_000)
    assert browser.window.view.isVisible() and browser.window.view.isEnabled()
    assert not guard.view.isVisible()
    assert events.named("environment.unblocked")
    # The exam page is still the one that was loaded: nothing was lost while blocked.
    assert browser.url() == browser.decider.policy.start_url


def test_terminate_asks_first_then_closes_the_program(
        make_browser: Callable[..., Browser], guard_for: Callable[..., EnvironmentGuard],
        dummy_program: Callable[[], subprocess.Popen[str]], events: EventLog,
        qtbot: QtBot) -> None:
    browser = make_browser(prohibited_processes=(FORBIDDEN,),
                           prohibited_process_action="terminate")
    proc = dummy_program()
    listed = [0]

    def lister() -> list[ProcessInfo]:
        listed[0] += 1
        return list_processes()

    guard = guard_for(browser, recheck_interval_ms=100, process_lister=lister)
    qtbot.waitUntil(lambda: guard.consent_box is not None, timeout=30_000)
    box = guard.consent_box
    assert box is not None
    assert FORBIDDEN in box.text()
    assert guard.blocked  # until the student agrees, the exam waits
    assert proc.poll() is None  # nothing is closed without consent

    # Declining keeps the exam blocked and does not ask again for the same program.
    no_button = box.button(QMessageBox.StandardButton.No)
    assert no_button is not None
    no_button.click()
    qtbot.waitUntil(lambda: bool(events.named("environment.consent")), timeout=5_000)
    assert events.named("environment.consent")[-1]["agreed"] is False
    seen = listed[0]
    qtbot.waitUntil(lambda: listed[0] >= seen + 3, timeout=10_000)  # three more rechecks
    assert guard.consent_box is None and proc.poll() is None and guard.blocked
    assert len(events.named("environment.consent_asked")) == 1

    # The view's button asks again; this time the student agrees.
    assert guard.view.close_programs_button.isVisible()
    guard.view.close_programs_button.click()
    box = consent_box(guard)  # asked again, synchronously
    assert box is not None
    yes_button = box.button(QMessageBox.StandardButton.Yes)
    assert yes_button is not None
    yes_button.click()
    # psutil reaps our own child while closing it, so its exit code is not the signal's.
    proc.wait(timeout=15)
    qtbot.waitUntil(lambda: not guard.blocked, timeout=15_000)
    closed = events.named("environment.programs_closed")
    assert closed and closed[-1]["closed"] == [FORBIDDEN] and closed[-1]["failed"] == []


def test_a_display_plugged_in_mid_exam_is_rechecked(
        make_browser: Callable[..., Browser], guard_for: Callable[..., EnvironmentGuard],
        events: EventLog, qtbot: QtBot) -> None:
    displays = [1]
    browser = make_browser(multiple_displays_check="deny")
    guard = guard_for(browser, display_count=lambda: displays[0])
    qtbot.waitUntil(checks_done(events), timeout=30_000)
    assert not guard.blocked
    app = QGuiApplication.instance()
    assert isinstance(app, QGuiApplication)
    screen = app.primaryScreen()

    displays[0] = 2
    app.screenAdded.emit(screen)
    qtbot.waitUntil(lambda: guard.blocked, timeout=5_000)
    assert guard.view.rows["displays"].property("status") == "deny"
    assert "2 displays are connected" in guard.view.rows["displays"].text()

    displays[0] = 1
    app.screenRemoved.emit(screen)
    qtbot.waitUntil(lambda: not guard.blocked, timeout=5_000)
    assert browser.window.view.isVisible()


def test_steps_clear_the_clipboard_and_leave_no_marker_after_a_clean_exit(
        make_browser: Callable[..., Browser], tmp_path: Path, events: EventLog) -> None:
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("copied before the exam")
    browser = make_browser()
    guard = EnvironmentGuard(session_of(browser), marker_dir=tmp_path)
    guard.start()
    try:
        assert clipboard.text() == ""
        marker = json.loads((tmp_path / MARKER_NAME).read_text(encoding="utf-8"))
        assert [s["name"] for s in marker["steps"]] == ["clipboard"]
        steps = {e["step"]: e["status"] for e in events.named("lockdown.step")}
        # Offscreen Qt cannot hold the keyboard: reported, not pretended.
        assert steps["keyboard"] == "unsupported"
        assert steps["clipboard"] == "applied"
        clipboard.setText("copied during the exam")
    finally:
        guard.close()
    assert clipboard.text() == ""
    assert not (tmp_path / MARKER_NAME).exists()
    assert events.named("lockdown.restored")[-1]["failed"] == 0


def test_a_marker_of_a_live_session_refuses_a_second_one(
        make_browser: Callable[..., Browser], guard_for: Callable[..., EnvironmentGuard],
        tmp_path: Path, events: EventLog, qtbot: QtBot) -> None:
    other = StepRunner([CallableStep("x", lambda: None, lambda: None, detail="x",
                                     restore_data={"a": 1})], tmp_path)
    other.apply_all()  # this test process owns the marker and is alive
    try:
        browser = make_browser()
        guard = guard_for(browser, marker_dir=tmp_path)
        assert guard.blocked
        assert "already running" in guard.view.rows["lockdown"].text()
        assert events.named("lockdown.in_use")
        assert not events.named("lockdown.applied")
        qtbot.waitUntil(checks_done(events), timeout=30_000)
        assert guard.blocked
    finally:
        other.restore_all()


def test_an_unusable_policy_value_blocks_with_its_reason(
        make_browser: Callable[..., Browser], guard_for: Callable[..., EnvironmentGuard]) -> None:
    browser = make_browser(max_displays=0)
    guard = guard_for(browser)
    assert guard.blocked
    assert "max_displays" in guard.view.rows["policy"].text()


def test_policy_settings_reach_the_platform_policy(
        make_browser: Callable[..., Browser]) -> None:
    browser = make_browser(vm_check="deny", remote_session_check="pass", max_displays=2,
                           prohibited_processes=("exam-helper",), allowed_hostnames=("vdi-*",),
                           allowed_hypervisors=("Hyper-V",), clear_clipboard=False)
    env = environment_policy(browser.decider.policy)
    assert (env.vm, env.remote_session, env.max_displays) == ("deny", "pass", 2)
    assert env.prohibited_processes[-1] == "exam-helper"
    assert "obs" in env.prohibited_processes  # the built-in list stays
    assert env.hostname_allowed("vdi-07.example.ac.uk")
    assert env.hypervisor_allowed("Microsoft Hyper-V")
    assert env.clear_clipboard is False


def test_the_window_is_put_back_to_fullscreen(
        make_browser: Callable[..., Browser], guard_for: Callable[..., EnvironmentGuard],
        events: EventLog, qtbot: QtBot) -> None:
    browser = make_browser()
    browser.window.showFullScreen()
    qtbot.waitUntil(browser.window.isFullScreen)
    guard_for(browser)
    browser.window.showNormal()  # as a window manager's "restore" or a shortcut would
    qtbot.waitUntil(lambda: bool(events.named("kiosk.fullscreen_restored")), timeout=5_000)
    qtbot.waitUntil(browser.window.isFullScreen, timeout=5_000)
