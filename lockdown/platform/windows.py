"""Windows: keyboard hook, capture exclusion, clipboard, VM and remote-session facts (ctypes).

Everything goes through ``user32``/``kernel32`` objects with the :class:`User32Api` and
:class:`Kernel32Api` shapes: :func:`load_user32`/:func:`load_kernel32` give the real DLLs with
their prototypes declared (so 64-bit handles are not truncated); tests pass fakes. No registry and
no WMI: VM detection reads the SMBIOS table with ``GetSystemFirmwareTable`` and remote sessions
come from ``GetSystemMetrics``.

Limits the student should know about: Ctrl+Alt+Del and Win+L are handled by the secure desktop
and cannot be blocked by any application; a low-level hook is silently removed by Windows if its
callback is slower than ``LowLevelHooksTimeout``, which is why the callback does almost nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import time
from collections.abc import Callable, Mapping
from ctypes import wintypes
from typing import Any, Protocol, cast

from lockdown.platform.base import PlatformError, StepResult
from lockdown.platform.remote import windows_remote_indicators
from lockdown.platform.steps import ClipboardStep
from lockdown.platform.vm import DmiInfo, VmFinding, detect_vm_from_dmi, parse_raw_smbios_data

WH_KEYBOARD_LL = 13
HC_ACTION = 0
LLKHF_ALTDOWN = 0x20
VK_TAB = 0x09
VK_CONTROL = 0x11
VK_ESCAPE = 0x1B
VK_SPACE = 0x20
VK_SNAPSHOT = 0x2C
VK_LWIN = 0x5B
VK_RWIN = 0x5C
VK_F4 = 0x73
KEY_PRESSED = 0x8000
WDA_NONE = 0x00
WDA_MONITOR = 0x01
WDA_EXCLUDEFROMCAPTURE = 0x11  # Windows 10 2004 and later
SM_REMOTESESSION = 0x1000
SM_REMOTECONTROL = 0x2001
RSMB = int.from_bytes(b"RSMB", "big")  # GetSystemFirmwareTable provider signature

LRESULT = ctypes.c_ssize_t


class KBDLLHOOKSTRUCT(ctypes.Structure):
    _fields_ = (
        ("vkCode", wintypes.DWORD),
        ("scanCode", wintypes.DWORD),
        ("flags", wintypes.DWORD),
        ("time", wintypes.DWORD),
        ("dwExtraInfo", ctypes.c_size_t),
    )


if sys.platform == "win32":
    HOOKPROC = ctypes.WINFUNCTYPE(LRESULT, ctypes.c_int, wintypes.WPARAM, wintypes.LPARAM)
else:  # same signature, C calling convention: lets fakes drive the real callback elsewhere
    HOOKPROC = ctypes.CFUNCTYPE(LRESULT, ctypes.c_int, wintypes.WPARAM, wintypes.LPARAM)


class User32Api(Protocol):
    """The user32.dll functions this module calls (positional, as ctypes passes them)."""

    def SetWindowsHookExW(self, id_hook: int, proc: Any, module: Any, thread_id: int, /) -> Any: ...
    def UnhookWindowsHookEx(self, hook: Any, /) -> int: ...
    def CallNextHookEx(self, hook: Any, code: int, wparam: int, lparam: int, /) -> int: ...
    def GetAsyncKeyState(self, vkey: int, /) -> int: ...
    def SetWindowDisplayAffinity(self, hwnd: int, affinity: int, /) -> int: ...
    def GetSystemMetrics(self, index: int, /) -> int: ...
    def OpenClipboard(self, hwnd: Any, /) -> int: ...
    def EmptyClipboard(self) -> int: ...
    def CloseClipboard(self) -> int: ...


class Kernel32Api(Protocol):
    """The kernel32.dll functions this module calls."""

    def GetModuleHandleW(self, name: Any, /) -> Any: ...
    def GetSystemFirmwareTable(
        self, provider: int, table_id: int, buf: Any, size: int, /
    ) -> int: ...


def _declare(function: Any, restype: Any, *argtypes: Any) -> None:
    function.restype = restype
    function.argtypes = argtypes


def load_user32() -> User32Api:
    """user32.dll with prototypes declared; raises :class:`PlatformError` on other OSes."""
    if sys.platform == "win32":
        dll = ctypes.WinDLL("user32", use_last_error=True)
        _declare(
            dll.SetWindowsHookExW,
            wintypes.HHOOK,
            ctypes.c_int,
            HOOKPROC,
            wintypes.HINSTANCE,
            wintypes.DWORD,
        )
        _declare(dll.UnhookWindowsHookEx, wintypes.BOOL, wintypes.HHOOK)
        _declare(
            dll.CallNextHookEx,
            LRESULT,
            wintypes.HHOOK,
            ctypes.c_int,
            wintypes.WPARAM,
            wintypes.LPARAM,
        )
        _declare(dll.GetAsyncKeyState, wintypes.SHORT, ctypes.c_int)
        _declare(dll.SetWindowDisplayAffinity, wintypes.BOOL, wintypes.HWND, wintypes.DWORD)
        _declare(dll.GetSystemMetrics, ctypes.c_int, ctypes.c_int)
        _declare(dll.OpenClipboard, wintypes.BOOL, wintypes.HWND)
        _declare(dll.EmptyClipboard, wintypes.BOOL)
        _declare(dll.CloseClipboard, wintypes.BOOL)
        return cast(User32Api, dll)
    else:
        raise PlatformError("user32.dll exists only on Windows.")


def load_kernel32() -> Kernel32Api:
    """kernel32.dll with prototypes declared; raises :class:`PlatformError` on other OSes."""
    if sys.platform == "win32":
        dll = ctypes.WinDLL("kernel32", use_last_error=True)
        _declare(dll.GetModuleHandleW, wintypes.HMODULE, wintypes.LPCWSTR)
        _declare(
            dll.GetSystemFirmwareTable,
            wintypes.UINT,
            wintypes.DWORD,
            wintypes.DWORD,
            ctypes.c_void_p,
            wintypes.DWORD,
        )
        return cast(Kernel32Api, dll)
    else:
        raise PlatformError("kernel32.dll exists only on Windows.")


def last_error() -> int:
    """The calling thread's last Win32 error (0 elsewhere)."""
    if sys.platform == "win32":
        return ctypes.get_last_error()
    else:
        return 0


def should_block_key(vk_code: int, flags: int, *, ctrl_down: bool) -> bool:
    """The kiosk's key decision: switchers, the Start menu, window closing and screenshots."""
    alt_down = bool(flags & LLKHF_ALTDOWN)
    if vk_code in (VK_LWIN, VK_RWIN, VK_SNAPSHOT):
        return True
    if vk_code == VK_ESCAPE:
        return alt_down or ctrl_down  # Alt+Esc cycles windows, Ctrl(+Shift)+Esc: Start / Task Mgr
    if vk_code in (VK_TAB, VK_F4, VK_SPACE):
        return alt_down  # Alt+Tab switches, Alt+F4 closes, Alt+Space opens the window menu
    return False


class KeyboardHookStep:
    """A low-level keyboard hook that swallows the shortcuts of :func:`should_block_key`.

    Install from the GUI thread: the hook's callback runs in the thread that installed it, whose
    message loop (Qt's) must keep running. The hook ends with the process.
    """

    name = "keyboard"

    def __init__(
        self,
        user32: User32Api,
        kernel32: Kernel32Api,
        *,
        get_last_error: Callable[[], int] = last_error,
    ) -> None:
        self._user32 = user32
        self._kernel32 = kernel32
        self._last_error = get_last_error
        self._hook: Any = None
        # Keep the ctypes callback alive as long as the hook: Windows holds only its address.
        self._proc = HOOKPROC(self._callback)

    def _callback(self, code: int, wparam: int, lparam: int) -> int:
        with contextlib.suppress(Exception):  # an exception must not swallow the key
            if code == HC_ACTION and lparam:
                event = KBDLLHOOKSTRUCT.from_address(lparam)
                ctrl_down = bool(self._user32.GetAsyncKeyState(VK_CONTROL) & KEY_PRESSED)
                if should_block_key(event.vkCode, event.flags, ctrl_down=ctrl_down):
                    return 1
        return int(self._user32.CallNextHookEx(None, code, wparam, lparam))

    def apply(self) -> StepResult:
        module = self._kernel32.GetModuleHandleW(None)
        hook = self._user32.SetWindowsHookExW(WH_KEYBOARD_LL, self._proc, module, 0)
        if not hook:
            return StepResult(
                self.name,
                "failed",
                f"The keyboard hook could not be installed (Windows error {self._last_error()}).",
            )
        self._hook = hook
        return StepResult(
            self.name,
            "applied",
            "The Windows key, Alt+Tab, Alt+Esc, Ctrl+Esc, Alt+F4 and Print Screen are blocked "
            "(Ctrl+Alt+Del cannot be blocked by any application).",
        )

    def restore(self) -> None:
        if self._hook:
            if not self._user32.UnhookWindowsHookEx(self._hook):
                raise PlatformError(
                    f"The keyboard hook could not be removed (Windows error {self._last_error()})."
                )
            self._hook = None


class DisplayAffinityStep:
    """Keep the exam window out of screenshots, recordings and screen sharing.

    ``WDA_EXCLUDEFROMCAPTURE`` (Windows 10 2004+) hides the window from capture; older versions
    only know ``WDA_MONITOR`` (captured as black). ``window_id`` is the top-level HWND (Qt's
    ``winId()``). The setting ends with the window.
    """

    name = "screen-capture"

    def __init__(self, window_id: int, user32: User32Api) -> None:
        self._hwnd = window_id
        self._user32 = user32

    def apply(self) -> StepResult:
        if self._user32.SetWindowDisplayAffinity(self._hwnd, WDA_EXCLUDEFROMCAPTURE):
            detail = "The exam window is hidden from screen capture."
            return StepResult(self.name, "applied", detail)
        if self._user32.SetWindowDisplayAffinity(self._hwnd, WDA_MONITOR):
            return StepResult(
                self.name,
                "applied",
                "The exam window shows as black in screen captures (this Windows version cannot "
                "hide it completely).",
            )
        return StepResult(
            self.name,
            "unsupported",
            "Windows refused to protect the exam window from screen capture.",
        )

    def restore(self) -> None:
        self._user32.SetWindowDisplayAffinity(self._hwnd, WDA_NONE)


def clear_clipboard(user32: User32Api, *, attempts: int = 5, pause_s: float = 0.02) -> None:
    """Empty the Windows clipboard; another program may hold it open briefly, so retry."""
    for attempt in range(attempts):
        if user32.OpenClipboard(None):
            try:
                if not user32.EmptyClipboard():
                    raise PlatformError("Windows refused to empty the clipboard.")
            finally:
                user32.CloseClipboard()
            return
        if attempt + 1 < attempts:
            time.sleep(pause_s)
    raise PlatformError("The clipboard is in use by another program and could not be cleared.")


def clipboard_step(user32: User32Api) -> ClipboardStep:
    """Clear the clipboard at start and end; after a crash, the next start clears it again."""
    return ClipboardStep(lambda: clear_clipboard(user32), clear_after_crash=True)


def read_smbios(kernel32: Kernel32Api) -> DmiInfo:
    """The firmware identity strings from the raw SMBIOS table (no registry, no WMI)."""
    size = int(kernel32.GetSystemFirmwareTable(RSMB, 0, None, 0))
    if size <= 0:
        raise PlatformError("Windows did not provide the SMBIOS firmware table.")
    buffer = ctypes.create_string_buffer(size)
    got = int(kernel32.GetSystemFirmwareTable(RSMB, 0, buffer, size))
    if got <= 0 or got > size:
        raise PlatformError("Reading the SMBIOS firmware table failed.")
    return parse_raw_smbios_data(buffer.raw[:got])


def detect_vm(kernel32: Kernel32Api) -> VmFinding:
    return detect_vm_from_dmi(read_smbios(kernel32))


def remote_indicators(user32: User32Api, env: Mapping[str, str]) -> list[str]:
    return windows_remote_indicators(
        remote_session=bool(user32.GetSystemMetrics(SM_REMOTESESSION)),
        remote_control=bool(user32.GetSystemMetrics(SM_REMOTECONTROL)),
        session_name=env.get("SESSIONNAME", ""),
    )
