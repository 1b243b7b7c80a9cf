"""Choose the steps, checks and crash restorers for the OS the app runs on.

The UI calls these three functions and nothing OS-specific; everything Qt it owns comes in as a
plain value or callable (the window id, the keyboard grab, the Qt clipboard, the display count).
``platform`` defaults to ``sys.platform``: ``win32`` and ``darwin`` get their own modules, every
other platform is treated as Linux/X11. Only the running OS's module is imported: the others
bring ctypes bindings this machine never uses.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from lockdown.platform.base import CrashRestorer, JsonValue, LockdownStep, PlatformError
from lockdown.platform.checks import (
    CheckResult,
    EnvironmentCheck,
    EnvironmentPolicy,
    check_displays,
)
from lockdown.platform.commands import CommandRunner, run_command
from lockdown.platform.processes import ProcessInfo, check_processes, list_processes
from lockdown.platform.remote import posix_remote_indicators, remote_check
from lockdown.platform.steps import ClipboardStep
from lockdown.platform.vm import VmFinding, vm_check

if TYPE_CHECKING:
    from lockdown.platform import macos, windows


def steps_for_current_os(
    policy: EnvironmentPolicy,
    *,
    window_id: int,
    grab_keyboard: Callable[[], None] | None = None,
    release_keyboard: Callable[[], None] | None = None,
    clear_clipboard: Callable[[], None] | None = None,
    platform: str = sys.platform,
    user32: windows.User32Api | None = None,
    kernel32: windows.Kernel32Api | None = None,
    objc: macos.ObjcRuntime | None = None,
) -> list[LockdownStep]:
    """The lockdown steps for this OS, in the order to apply them: keyboard, capture, clipboard.

    Linux needs ``grab_keyboard``/``release_keyboard`` (Qt's ``grabKeyboard`` and
    ``releaseKeyboard`` on the exam window) and, when the policy clears the clipboard,
    ``clear_clipboard`` (the Qt clipboard's ``clear``). Windows and macOS use their native
    clipboard unless ``clear_clipboard`` is given. ``window_id`` is the exam window's ``winId()``.
    """
    steps: list[LockdownStep] = []
    if platform == "win32":
        from lockdown.platform import windows

        user32 = user32 if user32 is not None else windows.load_user32()
        kernel32 = kernel32 if kernel32 is not None else windows.load_kernel32()
        steps += [
            windows.KeyboardHookStep(user32, kernel32),
            windows.DisplayAffinityStep(window_id, user32),
        ]
        if policy.clear_clipboard:
            steps.append(
                ClipboardStep(clear_clipboard, clear_after_crash=True)
                if clear_clipboard is not None
                else windows.clipboard_step(user32)
            )
    elif platform == "darwin":
        from lockdown.platform import macos

        objc = objc if objc is not None else macos.CtypesObjcRuntime()
        steps += [macos.PresentationOptionsStep(objc), macos.WindowSharingStep(window_id, objc)]
        if policy.clear_clipboard:
            steps.append(
                ClipboardStep(clear_clipboard, clear_after_crash=True)
                if clear_clipboard is not None
                else macos.clipboard_step(objc)
            )
    else:
        from lockdown.platform import linux

        if grab_keyboard is None or release_keyboard is None:
            raise PlatformError(
                "On Linux the lockdown steps need grab_keyboard and release_keyboard callables "
                "(the exam window's grabKeyboard/releaseKeyboard)."
            )
        steps += [linux.keyboard_grab_step(grab_keyboard, release_keyboard)]
        steps.append(linux.screen_capture_step())
        if policy.clear_clipboard:
            if clear_clipboard is None:
                raise PlatformError(
                    "On Linux clearing the clipboard needs a clear_clipboard callable "
                    "(the Qt clipboard's clear)."
                )
            steps.append(linux.clipboard_step(clear_clipboard))
    return steps


def crash_restorers_for_current_os(
    platform: str = sys.platform,
    *,
    user32: windows.User32Api | None = None,
    objc: macos.ObjcRuntime | None = None,
) -> dict[str, CrashRestorer]:
    """What :meth:`StepRunner.recover` needs to undo this OS's steps after a crash.

    Only the clipboard outlives the process (on Windows and macOS); the keyboard hook, the
    presentation options, the X11 grab and window capture settings all end with it. The native
    libraries are loaded only when a restorer actually runs.
    """

    def clear_windows_clipboard(_data: Mapping[str, JsonValue]) -> None:
        from lockdown.platform import windows

        windows.clear_clipboard(user32 if user32 is not None else windows.load_user32())

    def clear_macos_pasteboard(_data: Mapping[str, JsonValue]) -> None:
        from lockdown.platform import macos

        macos.clear_pasteboard(objc if objc is not None else macos.CtypesObjcRuntime())

    if platform == "win32":
        return {"clipboard": clear_windows_clipboard}
    if platform == "darwin":
        return {"clipboard": clear_macos_pasteboard}
    return {}


def checks_for_current_os(
    policy: EnvironmentPolicy,
    *,
    display_count: Callable[[], int],
    platform: str = sys.platform,
    env: Mapping[str, str] | None = None,
    hostname: str | None = None,
    runner: CommandRunner = run_command,
    process_lister: Callable[[], Iterable[ProcessInfo]] = list_processes,
    user32: windows.User32Api | None = None,
    kernel32: windows.Kernel32Api | None = None,
) -> list[EnvironmentCheck]:
    """The environment checks for this OS, for :func:`run_checks`.

    ``display_count`` is called in the caller's thread (Qt's screen list is GUI-thread only); the
    other checks run in worker threads. During the exam the UI re-runs :func:`check_displays` when
    a screen is added or removed and :func:`check_processes` every few seconds.
    """
    environ: Mapping[str, str] = env if env is not None else os.environ

    def displays() -> CheckResult:
        return check_displays(display_count(), policy)

    def processes() -> CheckResult:
        return check_processes(policy, lister=process_lister).result

    detect_vm: Callable[[], VmFinding]
    indicators: Callable[[], list[str]]
    if platform == "win32":
        from lockdown.platform import windows

        api32 = user32 if user32 is not None else windows.load_user32()
        kernel = kernel32 if kernel32 is not None else windows.load_kernel32()

        def detect_vm() -> VmFinding:
            return windows.detect_vm(kernel)

        def indicators() -> list[str]:
            return windows.remote_indicators(api32, environ)

    elif platform == "darwin":
        from lockdown.platform import macos

        def detect_vm() -> VmFinding:
            return macos.detect_vm(runner)

        def indicators() -> list[str]:
            return macos.remote_indicators(environ, lambda: (p.name for p in process_lister()))

    else:
        from lockdown.platform import linux

        def detect_vm() -> VmFinding:
            return linux.detect_vm(runner=runner)

        def indicators() -> list[str]:
            return posix_remote_indicators(environ)

    checks = [
        EnvironmentCheck("displays", displays, in_caller_thread=True),
        EnvironmentCheck(
            "virtual-machine", lambda: vm_check(detect_vm(), policy, hostname=hostname)
        ),
        EnvironmentCheck(
            "remote-session", lambda: remote_check(indicators(), policy, hostname=hostname)
        ),
        EnvironmentCheck("prohibited-processes", processes),
    ]
    if platform not in ("win32", "darwin"):
        from lockdown.platform import linux

        checks.append(EnvironmentCheck("desktop-session", lambda: linux.session_check(environ)))
    return checks
