"""The per-OS choice of steps, crash restorers and checks (fakes stand in for the OS)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from lockdown.platform import macos, windows
from lockdown.platform.base import PlatformError, StepRunner
from lockdown.platform.checks import EnvironmentPolicy, run_checks
from lockdown.platform.factory import (
    checks_for_current_os,
    crash_restorers_for_current_os,
    steps_for_current_os,
)
from lockdown.platform.processes import ProcessInfo
from lockdown.platform.steps import ClipboardStep
from tests.unit.platform.fakes import FakeKernel32, FakeObjc, FakeUser32, hyper_v_firmware


def no_processes() -> list[ProcessInfo]:
    return []


def not_a_vm(argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
    return 1, "none\n"


def test_windows_steps() -> None:
    user32 = FakeUser32()
    steps = steps_for_current_os(
        EnvironmentPolicy(), window_id=42, platform="win32", user32=user32, kernel32=FakeKernel32()
    )
    assert [s.name for s in steps] == ["keyboard", "screen-capture", "clipboard"]
    assert isinstance(steps[0], windows.KeyboardHookStep)
    assert isinstance(steps[1], windows.DisplayAffinityStep)
    steps[1].apply()
    assert user32.affinity == {42: windows.WDA_EXCLUDEFROMCAPTURE}


def test_macos_steps_and_an_injected_clipboard() -> None:
    cleared: list[int] = []
    steps = steps_for_current_os(
        EnvironmentPolicy(),
        window_id=7,
        platform="darwin",
        objc=FakeObjc(),
        clear_clipboard=lambda: cleared.append(1),
    )
    assert [type(s) for s in steps] == [
        macos.PresentationOptionsStep,
        macos.WindowSharingStep,
        ClipboardStep,
    ]
    assert steps[2].apply().restore_data == {"clear": True}  # still cleared after a crash
    assert cleared == [1]


def test_linux_steps_need_the_keyboard_callables() -> None:
    with pytest.raises(PlatformError, match="grab_keyboard and release_keyboard"):
        steps_for_current_os(EnvironmentPolicy(), window_id=1, platform="linux")
    with pytest.raises(PlatformError, match="clear_clipboard callable"):
        steps_for_current_os(
            EnvironmentPolicy(),
            window_id=1,
            platform="linux",
            grab_keyboard=lambda: None,
            release_keyboard=lambda: None,
        )


def test_linux_steps_run_through_the_runner(tmp_path: Path) -> None:
    calls: list[str] = []
    steps = steps_for_current_os(
        EnvironmentPolicy(),
        window_id=1,
        platform="linux",
        grab_keyboard=lambda: calls.append("grab"),
        release_keyboard=lambda: calls.append("release"),
        clear_clipboard=lambda: calls.append("clear"),
    )
    runner = StepRunner(steps, tmp_path)
    results = runner.apply_all()
    assert [(r.name, r.status) for r in results] == [
        ("keyboard", "applied"),
        ("screen-capture", "unsupported"),
        ("clipboard", "applied"),
    ]
    runner.restore_all()
    assert calls == ["grab", "clear", "clear", "release"]


def test_policy_can_leave_the_clipboard_alone() -> None:
    steps = steps_for_current_os(
        EnvironmentPolicy(clear_clipboard=False),
        window_id=1,
        platform="linux",
        grab_keyboard=lambda: None,
        release_keyboard=lambda: None,
    )
    assert [s.name for s in steps] == ["keyboard", "screen-capture"]


def test_crash_restorers_per_os(tmp_path: Path) -> None:
    assert crash_restorers_for_current_os("linux") == {}
    user32 = FakeUser32()
    restorers = crash_restorers_for_current_os("win32", user32=user32)
    restorers["clipboard"]({"clear": True})
    assert user32.clipboard == ""
    objc = FakeObjc()
    crash_restorers_for_current_os("darwin", objc=objc)["clipboard"]({"clear": True})
    assert objc.pasteboard_items == 0


def test_linux_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    checks = checks_for_current_os(
        EnvironmentPolicy(remote_session="deny"),
        display_count=lambda: 2,
        platform="linux",
        env={"DISPLAY": ":0", "SSH_CONNECTION": "1 2 3 4"},
        hostname="pc-1",
        runner=not_a_vm,
        process_lister=lambda: [ProcessInfo(4242, "anydesk", "/usr/bin/anydesk", 1.0)],
    )
    results = {r.name: r for r in run_checks(checks)}
    assert list(results) == [
        "displays",
        "virtual-machine",
        "remote-session",
        "prohibited-processes",
        "desktop-session",
    ]
    assert results["displays"].status == "warn"
    assert results["remote-session"].status == "deny"
    assert results["prohibited-processes"].status == "warn"
    assert "anydesk" in results["prohibited-processes"].detail
    assert results["desktop-session"].status == "pass"


def test_windows_checks_read_firmware_and_metrics() -> None:
    user32 = FakeUser32()
    user32.metrics[windows.SM_REMOTESESSION] = 1
    checks = checks_for_current_os(
        EnvironmentPolicy(allowed_hostnames=("avd-*",)),
        display_count=lambda: 1,
        platform="win32",
        env={"SESSIONNAME": "RDP-Tcp#0"},
        hostname="avd-exam-3",
        process_lister=no_processes,
        user32=user32,
        kernel32=FakeKernel32(hyper_v_firmware()),
    )
    results = {r.name: r for r in run_checks(checks)}
    assert "desktop-session" not in results
    # The institution's Windows Virtual Desktop: a Hyper-V VM over RDP, allowed by host name.
    assert results["virtual-machine"].status == "pass"
    assert "Microsoft Hyper-V" in results["virtual-machine"].detail
    assert results["remote-session"].status == "pass"
    assert "allow-list" in results["remote-session"].detail


def test_macos_checks() -> None:
    def sysctl(argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
        return 0, "kern.hv_vm_present: 1\nhw.model: VirtualMac2,1\n"

    checks = checks_for_current_os(
        EnvironmentPolicy(vm="deny"),
        display_count=lambda: 1,
        platform="darwin",
        env={},
        hostname="mac",
        runner=sysctl,
        process_lister=lambda: [ProcessInfo(90, "screensharingd")],
    )
    results = {r.name: r for r in run_checks(checks)}
    assert results["virtual-machine"].status == "deny"
    assert results["remote-session"].status == "warn"
    assert results["displays"].status == "pass"


def test_the_platform_package_never_imports_qt() -> None:
    code = (
        "import sys\n"
        "import lockdown.platform.factory, lockdown.platform.processes\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6')))\n"
        "print(qt)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.stdout.strip() == "[]"
