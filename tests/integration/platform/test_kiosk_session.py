"""The installable Linux kiosk session: its files, its installer and a run of its script."""

from __future__ import annotations

import configparser
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

SESSION = Path(__file__).resolve().parents[3] / "installers" / "linux" / "session"
SCRIPT = SESSION / "lockdown-kiosk-session"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell scripts")


def desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_session_entry_runs_the_session_script() -> None:
    entry = desktop_entry(SESSION / "lockdown-kiosk.desktop")
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Lockdown exam session"
    assert entry["Exec"] == "/usr/lib/lockdown/lockdown-kiosk-session"
    assert entry["TryExec"] == entry["Exec"]
    assert entry["DesktopNames"] == "lockdown-kiosk"


@pytest.mark.parametrize("script", ["lockdown-kiosk-session", "install.sh"])
def test_scripts_are_valid_posix_shell(script: str) -> None:
    path = SESSION / script
    assert path.stat().st_mode & stat.S_IXUSR
    subprocess.run(["sh", "-n", str(path)], check=True, timeout=30)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", "-s", "sh", str(path)], check=True, timeout=60)


def test_installer_stages_the_files_for_a_package(tmp_path: Path) -> None:
    done = subprocess.run(
        ["sh", str(SESSION / "install.sh"), "--prefix", "/usr/local", "--destdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Installed the Lockdown exam session" in done.stdout
    script = tmp_path / "usr/local/lib/lockdown/lockdown-kiosk-session"
    assert script.read_bytes() == SCRIPT.read_bytes()
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    entry = desktop_entry(tmp_path / "usr/local/share/xsessions/lockdown-kiosk.desktop")
    assert entry["Exec"] == "/usr/local/lib/lockdown/lockdown-kiosk-session"
    assert entry["TryExec"] == "/usr/local/lib/lockdown/lockdown-kiosk-session"
    assert (tmp_path / "usr/local/share/lockdown/kiosk-session.conf.example").is_file()


def test_installer_rejects_unknown_options(tmp_path: Path) -> None:
    done = subprocess.run(
        ["sh", str(SESSION / "install.sh"), "--desdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown option --desdir" in done.stderr


def write_executable(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(0o755)
    return path


def test_session_runs_only_the_browser_and_ends_with_it(tmp_path: Path) -> None:
    record = tmp_path / "browser.txt"
    wm_pid_file = tmp_path / "wm.pid"
    browser = write_executable(
        tmp_path / "fake-lockdown",
        f'{{ echo "args=$*"; env | sort; }} > "{record}"\nexit 3\n',
    )
    # The window manager records its pid, then runs until the session stops it.
    window_manager = write_executable(
        tmp_path / "fake-wm", f'echo $$ > "{wm_pid_file}"\nexec sleep 600\n'
    )
    config = tmp_path / "kiosk-session.conf"
    config.write_text(
        f'LOCKDOWN_BIN="{browser}"\n'
        'LOCKDOWN_ARGS="--start https://exam.example.ac.uk/quiz"\n'
        f'LOCKDOWN_WM="{window_manager}"\n',
        encoding="utf-8",
    )
    env = {
        "HOME": str(tmp_path),
        "PATH": "/nonexistent",  # the script must set its own
        "WAYLAND_DISPLAY": "wayland-0",
        "QTWEBENGINE_REMOTE_DEBUGGING": "9222",
        "QTWEBENGINE_CHROMIUM_FLAGS": "--remote-debugging-port=9222",
        "LD_PRELOAD": "/tmp/evil.so",
    }
    done = subprocess.run(
        ["/bin/sh", str(SCRIPT), "--config", str(config)],
        env=env,
        timeout=120,
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 3, done.stderr  # the browser's exit status ends the session

    lines = record.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "args=--start https://exam.example.ac.uk/quiz"
    seen = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    assert seen["XDG_CURRENT_DESKTOP"] == "lockdown-kiosk"
    assert seen["XDG_SESSION_TYPE"] == "x11"
    assert seen["QT_QPA_PLATFORM"] == "xcb"
    assert seen["PATH"].startswith("/usr/local/sbin:")
    for unsafe in (
        "WAYLAND_DISPLAY",
        "QTWEBENGINE_REMOTE_DEBUGGING",
        "QTWEBENGINE_CHROMIUM_FLAGS",
        "LD_PRELOAD",
    ):
        assert unsafe not in seen

    wm_pid = int(wm_pid_file.read_text(encoding="utf-8"))
    # The session stopped and reaped its window manager before ending.
    assert not psutil.pid_exists(wm_pid) or psutil.Process(wm_pid).status() == psutil.STATUS_ZOMBIE


def test_session_without_a_config_runs_lockdown_from_its_own_path(tmp_path: Path) -> None:
    safe_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    if shutil.which("lockdown", path=safe_path):
        pytest.skip("a lockdown command is installed on this machine")
    done = subprocess.run(
        ["/bin/sh", str(SCRIPT), "--config", str(tmp_path / "absent.conf")],
        env={"HOME": str(tmp_path), "PATH": str(tmp_path)},
        timeout=120,
        check=False,
        capture_output=True,
        text=True,
    )
    # Defaults: "lockdown" looked up on the script's own PATH (not installed here: status 127).
    assert done.returncode == 127
    assert "lockdown" in done.stderr
