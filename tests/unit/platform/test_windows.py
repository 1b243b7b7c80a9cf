"""Windows code paths driven through fake user32/kernel32 objects (runs on any OS).

The keyboard hook test calls the real ctypes callback with a real KBDLLHOOKSTRUCT in memory, as
Windows would; only the DLLs are fakes.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import pytest

from lockdown.platform import windows
from lockdown.platform.base import PlatformError, StepFailedError, StepRunner
from lockdown.platform.vm import DmiInfo
from lockdown.platform.windows import (
    HC_ACTION,
    KBDLLHOOKSTRUCT,
    LLKHF_ALTDOWN,
    VK_CONTROL,
    VK_ESCAPE,
    VK_F4,
    VK_LWIN,
    VK_RWIN,
    VK_SNAPSHOT,
    VK_SPACE,
    VK_TAB,
    WDA_EXCLUDEFROMCAPTURE,
    WDA_MONITOR,
    WDA_NONE,
    WH_KEYBOARD_LL,
    DisplayAffinityStep,
    KeyboardHookStep,
    should_block_key,
)
from tests.unit.platform.fakes import (
    HOOK_HANDLE,
    NEXT_HOOK_RESULT,
    FakeKernel32,
    FakeUser32,
    hyper_v_firmware,
)

WM_KEYDOWN = 0x0100
WM_SYSKEYDOWN = 0x0104
VK_A = 0x41


def press(proc: Any, vk: int, *, alt: bool = False) -> int:
    event = KBDLLHOOKSTRUCT(vkCode=vk, scanCode=0, flags=LLKHF_ALTDOWN if alt else 0, time=0)
    message = WM_SYSKEYDOWN if alt else WM_KEYDOWN
    return int(proc(HC_ACTION, message, ctypes.addressof(event)))


@pytest.mark.parametrize(
    ("vk", "alt", "ctrl", "blocked"),
    [
        (VK_LWIN, False, False, True),
        (VK_RWIN, False, False, True),
        (VK_SNAPSHOT, False, False, True),
        (VK_TAB, True, False, True),
        (VK_TAB, False, False, False),  # plain Tab moves between fields
        (VK_ESCAPE, True, False, True),
        (VK_ESCAPE, False, True, True),
        (VK_ESCAPE, False, False, False),  # plain Esc closes dialogs
        (VK_F4, True, False, True),
        (VK_F4, False, False, False),
        (VK_SPACE, True, False, True),
        (VK_SPACE, False, False, False),
        (VK_A, True, True, False),
    ],
)
def test_should_block_key(vk: int, alt: bool, ctrl: bool, blocked: bool) -> None:
    flags = LLKHF_ALTDOWN if alt else 0
    assert should_block_key(vk, flags, ctrl_down=ctrl) is blocked


def test_keyboard_hook_installs_blocks_and_passes_on() -> None:
    user32, kernel32 = FakeUser32(), FakeKernel32()
    step = KeyboardHookStep(user32, kernel32)
    result = step.apply()
    assert result.status == "applied"
    assert result.restore_data is None  # a hook ends with the process
    assert "Ctrl+Alt+Del cannot be blocked" in result.detail
    id_hook, proc, module, thread = user32.hooks[HOOK_HANDLE]
    assert (id_hook, module, thread) == (WH_KEYBOARD_LL, 0x7FF6_0000_0000, 0)

    assert press(proc, VK_LWIN) == 1
    assert press(proc, VK_TAB, alt=True) == 1
    assert press(proc, VK_SNAPSHOT) == 1
    assert press(proc, VK_A) == NEXT_HOOK_RESULT
    assert press(proc, VK_ESCAPE) == NEXT_HOOK_RESULT
    user32.keys_down.add(VK_CONTROL)
    assert press(proc, VK_ESCAPE) == 1
    assert user32.passed_on == [(HC_ACTION, WM_KEYDOWN), (HC_ACTION, WM_KEYDOWN)]
    # Codes other than HC_ACTION must always be passed on untouched.
    assert proc(-1, WM_KEYDOWN, 0) == NEXT_HOOK_RESULT

    step.restore()
    assert user32.hooks == {}
    step.restore()  # idempotent


def test_keyboard_hook_callback_survives_a_failing_api() -> None:
    user32 = FakeUser32()
    step = KeyboardHookStep(user32, FakeKernel32())
    step.apply()
    _, proc, _, _ = user32.hooks[HOOK_HANDLE]

    def broken(_vkey: int, /) -> int:
        raise OSError("access violation")

    user32.GetAsyncKeyState = broken  # type: ignore[method-assign]
    assert press(proc, VK_ESCAPE) == NEXT_HOOK_RESULT  # the key is passed on, never lost


def test_keyboard_hook_failure_stops_the_exam_start(tmp_path: Any) -> None:
    user32 = FakeUser32()
    user32.refuse_hook = True
    step = KeyboardHookStep(user32, FakeKernel32(), get_last_error=lambda: 5)
    with pytest.raises(StepFailedError, match=r"could not be installed \(Windows error 5\)"):
        StepRunner([step], tmp_path).apply_all()


def test_keyboard_hook_removal_failure_is_reported() -> None:
    user32 = FakeUser32()
    step = KeyboardHookStep(user32, FakeKernel32(), get_last_error=lambda: 1404)
    step.apply()
    user32.refuse_unhook = True
    with pytest.raises(PlatformError, match="error 1404"):
        step.restore()


def test_display_affinity_excludes_from_capture_and_restores() -> None:
    user32 = FakeUser32()
    step = DisplayAffinityStep(0x10052, user32)
    result = step.apply()
    assert (result.status, user32.affinity[0x10052]) == ("applied", WDA_EXCLUDEFROMCAPTURE)
    step.restore()
    assert user32.affinity[0x10052] == WDA_NONE


def test_display_affinity_falls_back_on_old_windows() -> None:
    user32 = FakeUser32()
    user32.supported_affinities = {WDA_NONE, WDA_MONITOR}
    result = DisplayAffinityStep(1, user32).apply()
    assert result.status == "applied"
    assert "black" in result.detail
    assert user32.affinity[1] == WDA_MONITOR


def test_display_affinity_refused_is_unsupported_not_fatal() -> None:
    user32 = FakeUser32()
    user32.supported_affinities = {WDA_NONE}
    assert DisplayAffinityStep(1, user32).apply().status == "unsupported"


def test_clear_clipboard_retries_while_another_program_holds_it() -> None:
    user32 = FakeUser32()
    user32.clipboard_busy_for = 2
    windows.clear_clipboard(user32, pause_s=0)
    assert user32.clipboard == ""
    assert user32.calls == ["open", "open", "open", "empty", "close"]


def test_clear_clipboard_gives_up_with_a_clear_message() -> None:
    user32 = FakeUser32()
    user32.clipboard_busy_for = 99
    with pytest.raises(PlatformError, match="in use by another program"):
        windows.clear_clipboard(user32, attempts=3, pause_s=0)
    assert user32.calls == ["open"] * 3


def test_clear_clipboard_closes_it_even_when_emptying_fails() -> None:
    user32 = FakeUser32()
    user32.clipboard_refuses_empty = True
    with pytest.raises(PlatformError, match="refused to empty"):
        windows.clear_clipboard(user32)
    assert user32.calls == ["open", "empty", "close"]
    assert not user32.clipboard_open


def test_clipboard_step_asks_to_be_cleared_after_a_crash() -> None:
    user32 = FakeUser32()
    result = windows.clipboard_step(user32).apply()
    assert result.restore_data == {"clear": True}
    assert user32.clipboard == ""


def test_read_smbios_and_detect_hyper_v() -> None:
    kernel32 = FakeKernel32(hyper_v_firmware())
    info = windows.read_smbios(kernel32)
    assert info == DmiInfo(
        sys_vendor="Microsoft Corporation",
        product_name="Virtual Machine",
        product_version="7.0",
        bios_vendor="Microsoft Corporation",
        bios_version="Hyper-V UEFI Release v4.1",
    )
    finding = windows.detect_vm(kernel32)
    assert finding.hypervisor == "Microsoft Hyper-V"


def test_read_smbios_without_a_table_raises() -> None:
    with pytest.raises(PlatformError, match="did not provide the SMBIOS"):
        windows.read_smbios(FakeKernel32())


def test_remote_indicators_from_system_metrics() -> None:
    user32 = FakeUser32()
    assert windows.remote_indicators(user32, {"SESSIONNAME": "Console"}) == []
    user32.metrics[windows.SM_REMOTESESSION] = 1
    found = windows.remote_indicators(user32, {"SESSIONNAME": "RDP-Tcp#2"})
    assert found == ["Windows reports a Remote Desktop session (SM_REMOTESESSION)"]


@pytest.mark.skipif(sys.platform == "win32", reason="checks the non-Windows guard")
def test_loading_the_dlls_elsewhere_raises_a_clear_error() -> None:
    with pytest.raises(PlatformError, match="only on Windows"):
        windows.load_user32()
    with pytest.raises(PlatformError, match="only on Windows"):
        windows.load_kernel32()
    assert windows.last_error() == 0
