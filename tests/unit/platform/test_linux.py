"""Linux facts from recorded sysfs/procfs files and replayed commands; the session check."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from lockdown.platform import linux
from lockdown.platform.commands import CommandRunner
from lockdown.platform.vm import DmiInfo

FIXTURES = Path(__file__).parent / "fixtures"


def dmi_tree(root: Path, machine: str) -> Path:
    cases = json.loads((FIXTURES / "dmi.json").read_text(encoding="utf-8"))
    root.mkdir(parents=True, exist_ok=True)
    for name, value in cases[machine]["fields"].items():
        (root / name).write_text(value + "\n", encoding="latin-1")
    return root


def detect_virt_says(stdout: str, code: int) -> CommandRunner:
    def runner(argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
        assert argv[1:] == ["--vm"]
        assert timeout_s <= 5
        return code, stdout

    return runner


@pytest.fixture
def with_detect_virt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")


def test_read_dmi_strips_and_tolerates_missing_files(tmp_path: Path) -> None:
    root = dmi_tree(tmp_path / "id", "virtualbox")
    (root / "board_name").unlink()
    info = linux.read_dmi(root)
    assert info.sys_vendor == "innotek GmbH"
    assert info.board_name == ""
    assert linux.read_dmi(tmp_path / "absent") == DmiInfo()


@pytest.mark.usefixtures("with_detect_virt")
def test_detect_vm_combines_all_sources(tmp_path: Path) -> None:
    finding = linux.detect_vm(
        dmi_root=dmi_tree(tmp_path / "id", "virtualbox"),
        cpuinfo=FIXTURES / "cpuinfo_kvm_guest.txt",
        runner=detect_virt_says("oracle\n", 0),
    )
    assert finding.hypervisor == "VirtualBox"
    assert finding.evidence[0] == "systemd-detect-virt reports 'oracle'"
    assert "the CPU reports the hypervisor flag" in finding.evidence
    assert "product_name is 'VirtualBox'" in finding.evidence


@pytest.mark.usefixtures("with_detect_virt")
def test_detect_vm_on_bare_metal(tmp_path: Path) -> None:
    finding = linux.detect_vm(
        dmi_root=dmi_tree(tmp_path / "id", "dell-optiplex"),
        cpuinfo=FIXTURES / "cpuinfo_bare_metal.txt",
        runner=detect_virt_says("none\n", 1),
    )
    assert not finding.is_vm


@pytest.mark.usefixtures("with_detect_virt")
def test_detect_vm_without_dmi_still_sees_the_cpu_flag(tmp_path: Path) -> None:
    # Containers and some cloud VMs (Firecracker) expose no DMI; a timed-out detect-virt is ignored.
    finding = linux.detect_vm(
        dmi_root=tmp_path / "none",
        cpuinfo=FIXTURES / "cpuinfo_kvm_guest.txt",
        runner=detect_virt_says("", 124),
    )
    assert finding.is_vm
    assert finding.hypervisor is None
    assert finding.evidence == ("the CPU reports the hypervisor flag",)


def test_detect_virt_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)

    def never(argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
        raise AssertionError("must not run a program that is not installed")

    assert linux.detect_virt(never) is None


@pytest.mark.parametrize(
    ("env", "status", "needle"),
    [
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "warn", "Wayland"),
        ({"XDG_SESSION_TYPE": "wayland"}, "warn", "Wayland"),
        ({}, "warn", "No X11 display"),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}, "pass", "holds the keyboard"),
        ({"DISPLAY": ":0", "XDG_CURRENT_DESKTOP": "lockdown-kiosk"}, "pass", "exam session"),
    ],
)
def test_session_check(env: dict[str, str], status: str, needle: str) -> None:
    result = linux.session_check(env)
    assert result.name == "desktop-session"
    assert result.status == status
    assert needle in result.detail
    if status == "warn":
        assert result.advice


def test_keyboard_grab_step_uses_the_injected_callables() -> None:
    calls: list[str] = []
    step = linux.keyboard_grab_step(lambda: calls.append("grab"), lambda: calls.append("release"))
    result = step.apply()
    assert (result.name, result.status, result.restore_data) == ("keyboard", "applied", None)
    step.restore()
    assert calls == ["grab", "release"]


def test_screen_capture_is_honestly_unsupported() -> None:
    result = linux.screen_capture_step().apply()
    assert result.status == "unsupported"
    assert "cannot stop" in result.detail


def test_clipboard_needs_no_repair_after_a_crash() -> None:
    cleared: list[int] = []
    result = linux.clipboard_step(lambda: cleared.append(1)).apply()
    assert result.restore_data is None
    assert cleared == [1]


def test_xdotool_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not linux.xdotool_available()
    with pytest.raises(linux.X11Error, match="xdotool is not installed"):
        linux.xdotool("getactivewindow")
