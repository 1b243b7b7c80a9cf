"""macOS code paths driven through a fake Objective-C runtime and recorded sysctl output."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from lockdown.platform import macos
from lockdown.platform.base import PlatformError, StepFailedError, StepRunner
from lockdown.platform.commands import CommandRunner
from lockdown.platform.macos import (
    AUTO_HIDE_DOCK,
    AUTO_HIDE_MENU_BAR,
    AUTO_HIDE_TOOLBAR,
    DISABLE_APPLE_MENU,
    DISABLE_FORCE_QUIT,
    DISABLE_PROCESS_SWITCHING,
    FULL_SCREEN,
    HIDE_DOCK,
    HIDE_MENU_BAR,
    KIOSK_PRESENTATION_OPTIONS,
    NS_WINDOW_SHARING_NONE,
    PresentationOptionsStep,
    WindowSharingStep,
    presentation_options_problems,
)
from tests.unit.platform.fakes import NS_WINDOW_SHARING_READ_ONLY, VIEW, FakeObjc

FIXTURES = Path(__file__).parent / "fixtures"


def test_kiosk_options_are_a_valid_combination() -> None:
    assert presentation_options_problems(KIOSK_PRESENTATION_OPTIONS) == []
    assert KIOSK_PRESENTATION_OPTIONS & DISABLE_PROCESS_SWITCHING
    assert KIOSK_PRESENTATION_OPTIONS & DISABLE_FORCE_QUIT


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (HIDE_DOCK | AUTO_HIDE_DOCK, "mutually exclusive"),
        (HIDE_DOCK | HIDE_MENU_BAR | AUTO_HIDE_MENU_BAR, "mutually exclusive"),
        (HIDE_MENU_BAR, "HideMenuBar requires HideDock"),
        (AUTO_HIDE_MENU_BAR, "AutoHideMenuBar requires HideDock or AutoHideDock"),
        (DISABLE_PROCESS_SWITCHING, "require HideDock or AutoHideDock"),
        (HIDE_DOCK | AUTO_HIDE_TOOLBAR, "AutoHideToolbar requires FullScreen"),
    ],
)
def test_invalid_option_combinations_are_caught_before_appkit_throws(
    options: int, problem: str
) -> None:
    problems = presentation_options_problems(options)
    assert any(problem in p for p in problems)
    with pytest.raises(PlatformError, match="Invalid presentation options"):
        PresentationOptionsStep(FakeObjc(), options)


def test_valid_non_kiosk_combinations() -> None:
    assert presentation_options_problems(0) == []
    assert presentation_options_problems(AUTO_HIDE_DOCK | AUTO_HIDE_MENU_BAR) == []
    assert (
        presentation_options_problems(
            FULL_SCREEN | AUTO_HIDE_DOCK | AUTO_HIDE_MENU_BAR | AUTO_HIDE_TOOLBAR
        )
        == []
    )
    assert presentation_options_problems(HIDE_DOCK | HIDE_MENU_BAR | DISABLE_APPLE_MENU) == []


def test_presentation_options_applied_and_the_users_own_restored() -> None:
    objc = FakeObjc()
    step = PresentationOptionsStep(objc)
    result = step.apply()
    assert result.status == "applied"
    assert result.restore_data is None  # presentation options end with the process
    assert objc.presentation_options == KIOSK_PRESENTATION_OPTIONS
    step.restore()
    assert objc.presentation_options == AUTO_HIDE_DOCK
    sent = len(objc.sent)
    step.restore()  # idempotent: nothing more is sent
    assert len(objc.sent) == sent


def test_presentation_options_refused_fail_the_start(tmp_path: Path) -> None:
    objc = FakeObjc()
    objc.accepts_options = False
    with pytest.raises(StepFailedError, match="did not accept the kiosk presentation options"):
        StepRunner([PresentationOptionsStep(objc)], tmp_path).apply_all()
    assert objc.presentation_options == AUTO_HIDE_DOCK


def test_window_sharing_none_and_back() -> None:
    objc = FakeObjc()
    step = WindowSharingStep(VIEW, objc)
    assert step.apply().status == "applied"
    assert objc.sharing_type == NS_WINDOW_SHARING_NONE
    step.restore()
    assert objc.sharing_type == NS_WINDOW_SHARING_READ_ONLY


def test_window_sharing_before_the_window_exists_fails() -> None:
    objc = FakeObjc()
    objc.view_window = 0
    step = WindowSharingStep(VIEW, objc)
    result = step.apply()
    assert result.status == "failed"
    assert "not shown yet" in result.detail
    step.restore()
    assert objc.sharing_type == NS_WINDOW_SHARING_READ_ONLY


def test_pasteboard_cleared_and_marked_for_crash_repair() -> None:
    objc = FakeObjc()
    result = macos.clipboard_step(objc).apply()
    assert objc.pasteboard_items == 0
    assert result.restore_data == {"clear": True}


def replay(fixture: str) -> CommandRunner:
    def runner(argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
        assert list(argv) == [macos.SYSCTL, *macos.VM_SYSCTL_KEYS]
        assert timeout_s <= 5
        # macOS sysctl exits 1 when one of the keys is unknown (arm64 has no machdep.cpu.features)
        return 1, (FIXTURES / fixture).read_text(encoding="utf-8")

    return runner


@pytest.mark.parametrize(
    ("fixture", "hypervisor"),
    [
        ("sysctl_apple_silicon_vm.txt", "Apple Virtualization"),
        ("sysctl_intel_vmware.txt", "VMware"),
        ("sysctl_intel_mac.txt", None),
    ],
)
def test_detect_vm_from_recorded_sysctl(fixture: str, hypervisor: str | None) -> None:
    finding = macos.detect_vm(replay(fixture))
    assert finding.hypervisor == hypervisor
    assert finding.is_vm is (hypervisor is not None)


def test_detect_vm_when_sysctl_times_out() -> None:
    assert not macos.detect_vm(lambda argv, t: (124, "")).is_vm


def test_remote_indicators_include_screen_sharing() -> None:
    assert macos.remote_indicators({}, lambda: ["Finder", "Dock"]) == []
    found = macos.remote_indicators({}, lambda: ["Finder", "screensharingd"])
    assert found == ["someone is connected through Screen Sharing / Remote Management"]


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the non-macOS guard")
def test_the_real_runtime_is_macos_only() -> None:
    with pytest.raises(PlatformError, match="only on macOS"):
        macos.CtypesObjcRuntime()
