"""Linux: VM and session facts, the X11 keyboard grab step, and X11 helpers.

What Linux can and cannot do here:

* Keyboard: under X11 an active keyboard grab by the exam window (Qt's ``grabKeyboard``, injected
  by the UI) takes every key, including the desktop's Alt+Tab and Super shortcuts, which are
  passive grabs. Under Wayland no client can do that, hence :func:`session_check` and the
  installable kiosk session in ``installers/linux/session/``.
* Clipboard: cleared through callables the UI injects (the Qt clipboard). An X11 selection dies
  with its owner, so nothing needs clearing after a crash.
* Screen capture: X11 lets any client read the screen; this cannot be prevented, so the step says
  so and the prohibited-process check looks for known capture and remote tools instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from lockdown.platform.base import PlatformError
from lockdown.platform.checks import CheckResult
from lockdown.platform.commands import CommandRunner, run_command
from lockdown.platform.steps import CallableStep, ClipboardStep, UnsupportedStep
from lockdown.platform.vm import (
    DmiInfo,
    VmFinding,
    cpuinfo_has_hypervisor_flag,
    detect_vm_from_dmi,
    merge_findings,
    parse_detect_virt,
)

DMI_ROOT = Path("/sys/class/dmi/id")
CPUINFO = Path("/proc/cpuinfo")
KIOSK_DESKTOP_NAME = "lockdown-kiosk"

# systemd-detect-virt identifiers (systemd's src/basic/virt.c) to readable names.
_DETECT_VIRT_NAMES = {
    "kvm": "KVM",
    "qemu": "QEMU",
    "oracle": "VirtualBox",
    "vmware": "VMware",
    "microsoft": "Microsoft Hyper-V",
    "xen": "Xen",
    "parallels": "Parallels",
    "bochs": "Bochs",
    "bhyve": "bhyve",
    "amazon": "Amazon EC2",
    "zvm": "IBM z/VM",
    "apple": "Apple Virtualization",
    "google": "Google Compute Engine",
}


class X11Error(PlatformError):
    """An X11 helper could not do its job (no display, no libX11, no xdotool...)."""


def read_dmi(root: Path = DMI_ROOT) -> DmiInfo:
    """The world-readable DMI identity strings; missing files (containers, ARM) read as ""."""
    values: dict[str, str] = {}
    for name, _ in DmiInfo().items():
        try:
            values[name] = (root / name).read_text(encoding="latin-1").strip()
        except OSError:
            values[name] = ""
    return DmiInfo(**values)


def detect_virt(runner: CommandRunner = run_command, *, timeout_s: float = 2.0) -> str | None:
    """What ``systemd-detect-virt --vm`` says, or ``None`` (bare metal, not installed, timeout)."""
    program = shutil.which("systemd-detect-virt")
    if program is None:
        return None
    returncode, stdout = runner([program, "--vm"], timeout_s)
    return parse_detect_virt(stdout, returncode)


def detect_vm(
    *,
    dmi_root: Path = DMI_ROOT,
    cpuinfo: Path = CPUINFO,
    runner: CommandRunner = run_command,
) -> VmFinding:
    """Combine systemd-detect-virt, the DMI strings and the CPU's hypervisor flag."""
    findings: list[VmFinding] = []
    virt = detect_virt(runner)
    if virt is not None:
        name = _DETECT_VIRT_NAMES.get(virt, virt)
        findings.append(VmFinding(name, (f"systemd-detect-virt reports {virt!r}",)))
    findings.append(detect_vm_from_dmi(read_dmi(dmi_root)))
    try:
        flags_text = cpuinfo.read_text(encoding="latin-1")
    except OSError:
        flags_text = ""
    if cpuinfo_has_hypervisor_flag(flags_text):
        findings.append(VmFinding(None, ("the CPU reports the hypervisor flag",)))
    return merge_findings(findings)


def session_check(env: Mapping[str, str]) -> CheckResult:
    """Can the exam window hold the keyboard in this desktop session?"""
    session_type = env.get("XDG_SESSION_TYPE", "").lower()
    if env.get("WAYLAND_DISPLAY") or session_type == "wayland":
        return CheckResult(
            "desktop-session",
            "warn",
            "This is a Wayland session: the exam browser cannot stop shortcuts such as "
            "Alt+Tab or the Super key from switching away from the exam.",
            "On cluster PCs log in to the 'Lockdown exam session'; on your own computer choose "
            "an X11 (Xorg) session at the login screen.",
        )
    if not env.get("DISPLAY"):
        return CheckResult(
            "desktop-session",
            "warn",
            "No X11 display was found, so keyboard shortcuts cannot be blocked.",
            "Start the exam browser from a graphical X11 session.",
        )
    if KIOSK_DESKTOP_NAME in env.get("XDG_CURRENT_DESKTOP", "").split(":"):
        return CheckResult(
            "desktop-session", "pass", "Running in the lockdown exam session (nothing else runs)."
        )
    return CheckResult(
        "desktop-session", "pass", "X11 session: the exam window holds the keyboard."
    )


def keyboard_grab_step(grab: Callable[[], None], release: Callable[[], None]) -> CallableStep:
    """Hold the X11 keyboard through the UI's callables (Qt's grabKeyboard/releaseKeyboard).

    The grab ends with the process, so there is nothing to repair after a crash.
    """
    return CallableStep(
        "keyboard",
        grab,
        release,
        detail="The exam window holds the keyboard; desktop shortcuts do not reach the desktop.",
    )


def clipboard_step(clear: Callable[[], None]) -> ClipboardStep:
    """Clear the clipboard through the UI's callable; an X11 selection dies with its owner."""
    return ClipboardStep(clear, clear_after_crash=False)


def screen_capture_step() -> UnsupportedStep:
    return UnsupportedStep(
        "screen-capture",
        "Linux cannot stop other programs from capturing the screen; known screen recorders "
        "and remote-control tools are looked for instead.",
    )


# -- X11 helpers (for the UI's focus checks and the tests under Xvfb) ----------------------------

_X_NONE = 0
_X_POINTER_ROOT = 1


def _xlib() -> ctypes.CDLL:
    name = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise X11Error(f"libX11 is not available: {exc}") from exc
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    lib.XCloseDisplay.restype = ctypes.c_int
    lib.XGetInputFocus.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.XGetInputFocus.restype = ctypes.c_int
    lib.XQueryTree.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
        ctypes.POINTER(ctypes.c_uint),
    ]
    lib.XQueryTree.restype = ctypes.c_int
    lib.XFree.argtypes = [ctypes.c_void_p]
    lib.XFree.restype = ctypes.c_int
    return lib


def _open_display(lib: ctypes.CDLL, display: str | None) -> int:
    name = display if display is not None else os.environ.get("DISPLAY", "")
    handle = lib.XOpenDisplay(name.encode() if name else None)
    if not handle:
        raise X11Error(f"Cannot open the X display {name!r}.")
    return int(handle)


def x11_input_focus(display: str | None = None) -> int:
    """The X window that has the keyboard focus (0: none, 1: PointerRoot)."""
    lib = _xlib()
    handle = _open_display(lib, display)
    try:
        window, revert = ctypes.c_ulong(), ctypes.c_int()
        lib.XGetInputFocus(handle, ctypes.byref(window), ctypes.byref(revert))
        return window.value
    finally:
        lib.XCloseDisplay(handle)


def x11_focus_within(window_id: int, display: str | None = None) -> bool:
    """True when the keyboard focus is on ``window_id`` or one of its descendants.

    The UI uses this to notice that another window took the focus and take it back.
    """
    lib = _xlib()
    handle = _open_display(lib, display)
    try:
        focus, revert = ctypes.c_ulong(), ctypes.c_int()
        lib.XGetInputFocus(handle, ctypes.byref(focus), ctypes.byref(revert))
        current = focus.value
        while current not in (_X_NONE, _X_POINTER_ROOT):
            if current == window_id:
                return True
            root, parent = ctypes.c_ulong(), ctypes.c_ulong()
            children = ctypes.POINTER(ctypes.c_ulong)()
            count = ctypes.c_uint()
            ok = lib.XQueryTree(
                handle,
                current,
                ctypes.byref(root),
                ctypes.byref(parent),
                ctypes.byref(children),
                ctypes.byref(count),
            )
            if children:
                lib.XFree(children)
            if not ok or current in (parent.value, root.value):
                return False
            current = parent.value
        return False
    finally:
        lib.XCloseDisplay(handle)


def xdotool_available() -> bool:
    return shutil.which("xdotool") is not None


def xdotool(*args: str, display: str | None = None, timeout_s: float = 5.0) -> str:
    """Run ``xdotool`` (tests use it to type shortcuts at the exam window under Xvfb)."""
    program = shutil.which("xdotool")
    if program is None:
        raise X11Error("xdotool is not installed (Debian/Ubuntu: apt-get install xdotool).")
    env = dict(os.environ)
    if display is not None:
        env["DISPLAY"] = display
    try:
        done = subprocess.run(
            [program, *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise X11Error(f"xdotool {' '.join(args)} did not finish in {timeout_s:g} s.") from exc
    if done.returncode != 0:
        raise X11Error(f"xdotool {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()
