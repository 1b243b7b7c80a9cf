"""macOS: presentation options, window sharing type, pasteboard, VM and remote facts.

AppKit is reached through the Objective-C runtime with ctypes (no PyObjC dependency), behind the
small :class:`ObjcRuntime` interface so tests can pass a fake. Everything here must run on the
main thread (the UI calls the steps from it).

Limits: presentation options stop Cmd+Tab, Force Quit, the Dock and the menu bar but not the
power button held down; ``NSWindowSharingNone`` keeps the window out of screenshots and the older
capture APIs, but recent macOS versions may still let ScreenCaptureKit recorders see it, so known
recorders are also looked for among the running processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from lockdown.platform.base import PlatformError, StepResult
from lockdown.platform.commands import CommandRunner, run_command
from lockdown.platform.remote import posix_remote_indicators
from lockdown.platform.steps import ClipboardStep
from lockdown.platform.vm import VmFinding, detect_vm_from_sysctl, parse_sysctl

# NSApplicationPresentationOptions (AppKit NSApplication.h)
AUTO_HIDE_DOCK = 1 << 0
HIDE_DOCK = 1 << 1
AUTO_HIDE_MENU_BAR = 1 << 2
HIDE_MENU_BAR = 1 << 3
DISABLE_APPLE_MENU = 1 << 4
DISABLE_PROCESS_SWITCHING = 1 << 5
DISABLE_FORCE_QUIT = 1 << 6
DISABLE_SESSION_TERMINATION = 1 << 7
DISABLE_HIDE_APPLICATION = 1 << 8
DISABLE_MENU_BAR_TRANSPARENCY = 1 << 9
FULL_SCREEN = 1 << 10
AUTO_HIDE_TOOLBAR = 1 << 11

KIOSK_PRESENTATION_OPTIONS = (
    HIDE_DOCK
    | HIDE_MENU_BAR
    | DISABLE_APPLE_MENU
    | DISABLE_PROCESS_SWITCHING
    | DISABLE_FORCE_QUIT
    | DISABLE_SESSION_TERMINATION
    | DISABLE_HIDE_APPLICATION
)

NS_WINDOW_SHARING_NONE = 0
SYSCTL = "/usr/sbin/sysctl"
VM_SYSCTL_KEYS = ("kern.hv_vm_present", "machdep.cpu.features", "hw.model")
# Screen Sharing / Remote Management start this daemon while someone is connected.
SCREEN_SHARING_DAEMON = "screensharingd"


class ObjcRuntime(Protocol):
    """Just enough of the Objective-C runtime: look up a class, send a message with int args."""

    def class_named(self, name: str, /) -> int: ...

    def send(self, receiver: int, selector: str, /, *args: int) -> int: ...


class CtypesObjcRuntime:
    """The real runtime via libobjc; ids, selectors and NSUInteger arguments are all word-sized.

    ``objc_msgSend`` must be called through a prototype with the exact argument count (arm64
    passes variadic arguments differently), hence one prototype per arity.
    """

    _objc: ctypes.CDLL
    _msg_send: int
    _prototypes: dict[int, Any]

    def __init__(self) -> None:
        if sys.platform == "darwin":
            objc = ctypes.CDLL(ctypes.util.find_library("objc") or "/usr/lib/libobjc.A.dylib")
            # AppKit registers NSApplication, NSWindow and NSPasteboard (Qt has loaded it already).
            ctypes.CDLL("/System/Library/Frameworks/AppKit.framework/AppKit")
            objc.objc_getClass.restype = ctypes.c_void_p
            objc.objc_getClass.argtypes = [ctypes.c_char_p]
            objc.sel_registerName.restype = ctypes.c_void_p
            objc.sel_registerName.argtypes = [ctypes.c_char_p]
            self._objc = objc
            address = ctypes.cast(objc.objc_msgSend, ctypes.c_void_p).value
            if not address:
                raise PlatformError("objc_msgSend was not found in libobjc.")
            self._msg_send = address
            self._prototypes = {}
        else:
            raise PlatformError("The Objective-C runtime exists only on macOS.")

    def class_named(self, name: str, /) -> int:
        cls = self._objc.objc_getClass(name.encode())
        if not cls:
            raise PlatformError(f"The Objective-C class {name} is not loaded.")
        return int(cls)

    def send(self, receiver: int, selector: str, /, *args: int) -> int:
        function = self._prototypes.get(len(args))
        if function is None:
            word = ctypes.c_size_t
            prototype = ctypes.CFUNCTYPE(
                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, *([word] * len(args))
            )
            function = prototype(self._msg_send)
            self._prototypes[len(args)] = function
        sel = self._objc.sel_registerName(selector.encode())
        return int(function(receiver, sel, *args) or 0)


def presentation_options_problems(options: int) -> list[str]:
    """Why AppKit would reject ``options`` (it raises an exception for invalid combinations).

    The rules are those of ``-[NSApplication setPresentationOptions:]``'s documentation.
    """
    problems: list[str] = []
    docks = options & (HIDE_DOCK | AUTO_HIDE_DOCK)
    if options & HIDE_DOCK and options & AUTO_HIDE_DOCK:
        problems.append("HideDock and AutoHideDock are mutually exclusive")
    if options & HIDE_MENU_BAR and options & AUTO_HIDE_MENU_BAR:
        problems.append("HideMenuBar and AutoHideMenuBar are mutually exclusive")
    if options & HIDE_MENU_BAR and not options & HIDE_DOCK:
        problems.append("HideMenuBar requires HideDock")
    if options & AUTO_HIDE_MENU_BAR and not docks:
        problems.append("AutoHideMenuBar requires HideDock or AutoHideDock")
    needs_dock = (
        DISABLE_PROCESS_SWITCHING
        | DISABLE_FORCE_QUIT
        | DISABLE_SESSION_TERMINATION
        | DISABLE_MENU_BAR_TRANSPARENCY
    )
    if options & needs_dock and not docks:
        problems.append("the Disable* options require HideDock or AutoHideDock")
    if options & AUTO_HIDE_TOOLBAR and not (options & FULL_SCREEN and options & AUTO_HIDE_MENU_BAR):
        problems.append("AutoHideToolbar requires FullScreen and AutoHideMenuBar")
    return problems


class PresentationOptionsStep:
    """Hide the Dock and menu bar; disable Cmd+Tab, Force Quit, Log Out and Hide.

    The options apply while the app is active and end with the process.
    """

    name = "keyboard"

    def __init__(self, objc: ObjcRuntime, options: int = KIOSK_PRESENTATION_OPTIONS) -> None:
        problems = presentation_options_problems(options)
        if problems:
            raise PlatformError("Invalid presentation options: " + "; ".join(problems) + ".")
        self._objc = objc
        self._options = options
        self._previous: int | None = None

    def _app(self) -> int:
        return self._objc.send(self._objc.class_named("NSApplication"), "sharedApplication")

    def apply(self) -> StepResult:
        app = self._app()
        previous = self._objc.send(app, "presentationOptions")
        self._objc.send(app, "setPresentationOptions:", self._options)
        now = self._objc.send(app, "presentationOptions")
        if now != self._options:
            self._objc.send(app, "setPresentationOptions:", previous)
            return StepResult(
                self.name,
                "failed",
                f"macOS did not accept the kiosk presentation options (got {now:#x}).",
            )
        self._previous = previous
        return StepResult(
            self.name,
            "applied",
            "The Dock and menu bar are hidden; Cmd+Tab, Force Quit and Log Out are disabled.",
        )

    def restore(self) -> None:
        if self._previous is not None:
            self._objc.send(self._app(), "setPresentationOptions:", self._previous)
            self._previous = None


class WindowSharingStep:
    """Mark the exam window as not shareable (``NSWindow.sharingType = NSWindowSharingNone``).

    ``window_id`` is Qt's ``winId()``, which on macOS is the window's content ``NSView``.
    """

    name = "screen-capture"

    def __init__(self, window_id: int, objc: ObjcRuntime) -> None:
        self._view = window_id
        self._objc = objc
        self._window = 0
        self._previous: int | None = None

    def apply(self) -> StepResult:
        window = self._objc.send(self._view, "window")
        if not window:
            return StepResult(self.name, "failed", "The exam window is not shown yet.")
        self._previous = self._objc.send(window, "sharingType")
        self._objc.send(window, "setSharingType:", NS_WINDOW_SHARING_NONE)
        self._window = window
        return StepResult(
            self.name,
            "applied",
            "The exam window is excluded from screenshots and screen sharing (recent macOS "
            "recorders may still capture it; known recorders are looked for as well).",
        )

    def restore(self) -> None:
        if self._window and self._previous is not None:
            self._objc.send(self._window, "setSharingType:", self._previous)
            self._previous = None


def clear_pasteboard(objc: ObjcRuntime) -> None:
    """Empty the general pasteboard (the system clipboard)."""
    pasteboard = objc.send(objc.class_named("NSPasteboard"), "generalPasteboard")
    if not pasteboard:
        raise PlatformError("The macOS pasteboard is not available.")
    objc.send(pasteboard, "clearContents")


def clipboard_step(objc: ObjcRuntime) -> ClipboardStep:
    """Clear the pasteboard at start and end; it outlives a crash, so the next start clears it."""
    return ClipboardStep(lambda: clear_pasteboard(objc), clear_after_crash=True)


def read_sysctl(
    keys: Sequence[str] = VM_SYSCTL_KEYS,
    runner: CommandRunner = run_command,
    *,
    timeout_s: float = 2.0,
) -> dict[str, str]:
    """Read ``sysctl`` values; unknown keys are simply absent (sysctl reports them on stderr)."""
    _returncode, stdout = runner([SYSCTL, *keys], timeout_s)
    return parse_sysctl(stdout)


def detect_vm(runner: CommandRunner = run_command) -> VmFinding:
    return detect_vm_from_sysctl(read_sysctl(VM_SYSCTL_KEYS, runner))


def remote_indicators(
    env: Mapping[str, str], process_names: Callable[[], Iterable[str]]
) -> list[str]:
    """SSH and X forwarding as on Linux, plus an active Screen Sharing session."""
    found = posix_remote_indicators(env)
    if any(name == SCREEN_SHARING_DAEMON for name in process_names()):
        found.append("someone is connected through Screen Sharing / Remote Management")
    return found
