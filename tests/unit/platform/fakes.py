"""Fake OS libraries for the Windows and macOS code paths: they keep state like the real ones."""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from lockdown.platform.macos import AUTO_HIDE_DOCK
from lockdown.platform.windows import RSMB, WDA_EXCLUDEFROMCAPTURE, WDA_MONITOR, WDA_NONE

HOOK_HANDLE = 0xBEEF
NEXT_HOOK_RESULT = 7
APP, VIEW, WINDOW, PASTEBOARD = 0x6000_0001, 0x6000_0002, 0x6000_0003, 0x6000_0004
NS_WINDOW_SHARING_READ_ONLY = 1


class FakeUser32:
    def __init__(self) -> None:
        self.hooks: dict[int, tuple[int, Any, Any, int]] = {}
        self.refuse_hook = False
        self.refuse_unhook = False
        self.passed_on: list[tuple[int, int]] = []
        self.keys_down: set[int] = set()
        self.affinity: dict[int, int] = {}
        self.supported_affinities = {WDA_NONE, WDA_MONITOR, WDA_EXCLUDEFROMCAPTURE}
        self.metrics: dict[int, int] = {}
        self.clipboard_busy_for = 0
        self.clipboard_refuses_empty = False
        self.clipboard = "copied before the exam"
        self.clipboard_open = False
        self.calls: list[str] = []

    def SetWindowsHookExW(self, id_hook: int, proc: Any, module: Any, thread_id: int, /) -> Any:
        if self.refuse_hook:
            return None
        self.hooks[HOOK_HANDLE] = (id_hook, proc, module, thread_id)
        return HOOK_HANDLE

    def UnhookWindowsHookEx(self, hook: Any, /) -> int:
        if self.refuse_unhook:
            return 0
        del self.hooks[hook]
        return 1

    def CallNextHookEx(self, hook: Any, code: int, wparam: int, lparam: int, /) -> int:
        self.passed_on.append((code, wparam))
        return NEXT_HOOK_RESULT

    def GetAsyncKeyState(self, vkey: int, /) -> int:
        return -32768 if vkey in self.keys_down else 0  # SHORT with the high bit set

    def SetWindowDisplayAffinity(self, hwnd: int, affinity: int, /) -> int:
        if affinity not in self.supported_affinities:
            return 0
        self.affinity[hwnd] = affinity
        return 1

    def GetSystemMetrics(self, index: int, /) -> int:
        return self.metrics.get(index, 0)

    def OpenClipboard(self, hwnd: Any, /) -> int:
        self.calls.append("open")
        if self.clipboard_busy_for > 0:
            self.clipboard_busy_for -= 1
            return 0
        self.clipboard_open = True
        return 1

    def EmptyClipboard(self) -> int:
        self.calls.append("empty")
        assert self.clipboard_open
        if self.clipboard_refuses_empty:
            return 0
        self.clipboard = ""
        return 1

    def CloseClipboard(self) -> int:
        self.calls.append("close")
        self.clipboard_open = False
        return 1


class FakeKernel32:
    def __init__(self, firmware: bytes = b"") -> None:
        self.firmware = firmware

    def GetModuleHandleW(self, name: Any, /) -> Any:
        assert name is None
        return 0x7FF6_0000_0000

    def GetSystemFirmwareTable(self, provider: int, table_id: int, buf: Any, size: int, /) -> int:
        if provider != RSMB or not self.firmware:
            return 0
        if buf is None or size < len(self.firmware):
            return len(self.firmware)
        ctypes.memmove(buf, self.firmware, len(self.firmware))
        return len(self.firmware)


def hyper_v_firmware() -> bytes:
    def structure(kind: int, fields: bytes, strings: list[str]) -> bytes:
        head = struct.pack("<BBH", kind, 4 + len(fields), kind)
        return head + fields + b"".join(s.encode() + b"\0" for s in strings) + b"\0"

    table = (
        structure(
            0, bytes([1, 2]) + bytes(16), ["Microsoft Corporation", "Hyper-V UEFI Release v4.1"]
        )
        + structure(
            1, bytes([1, 2, 3]) + bytes(24), ["Microsoft Corporation", "Virtual Machine", "7.0"]
        )
        + struct.pack("<BBH", 127, 4, 0xFFFF)
        + b"\0\0"
    )
    return struct.pack("<BBBBI", 0, 3, 1, 0, len(table)) + table


class FakeObjc:
    """A tiny AppKit: NSApplication, one NSView in one NSWindow, the general pasteboard."""

    def __init__(self) -> None:
        self.classes = {"NSApplication": 0x1, "NSPasteboard": 0x2}
        self.presentation_options = AUTO_HIDE_DOCK  # the user's own Dock setting
        self.accepts_options = True
        self.view_window = WINDOW
        self.sharing_type = NS_WINDOW_SHARING_READ_ONLY
        self.pasteboard_items = 3
        self.sent: list[tuple[int, str, tuple[int, ...]]] = []

    def class_named(self, name: str, /) -> int:
        return self.classes[name]

    def send(self, receiver: int, selector: str, /, *args: int) -> int:
        self.sent.append((receiver, selector, args))
        table = {
            (0x1, "sharedApplication"): lambda: APP,
            (APP, "presentationOptions"): lambda: self.presentation_options,
            (APP, "setPresentationOptions:"): lambda: self._set_options(args[0]),
            (VIEW, "window"): lambda: self.view_window,
            (WINDOW, "sharingType"): lambda: self.sharing_type,
            (WINDOW, "setSharingType:"): lambda: self._set_sharing(args[0]),
            (0x2, "generalPasteboard"): lambda: PASTEBOARD,
            (PASTEBOARD, "clearContents"): self._clear,
        }
        return table[(receiver, selector)]()

    def _set_options(self, value: int) -> int:
        if self.accepts_options:
            self.presentation_options = value
        return 0

    def _set_sharing(self, value: int) -> int:
        self.sharing_type = value
        return 0

    def _clear(self) -> int:
        self.pasteboard_items = 0
        return 1
