"""Bad command lines and policy files: one clear line on stderr, exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "LOCKDOWN_DATA_DIR": str(tmp_path / "data"),
           "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "lockdown", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("content", "suffix", "needle"),
    [
        ("start_url = ", ".toml", "invalid TOML"),
        ("{not json", ".json", "invalid JSON"),
        ("alow_print = true", ".toml", "alow_print: unknown setting"),
        ("allow_print = 'no'", ".toml", "allow_print: expected boolean"),
        ("start_url = 'ftp://x/'", ".toml", "start_url: must be an http or https URL"),
        ("url_rules = [{action = 'allow'}]", ".toml", "url_rules[0]"),
        ("popups = 3", ".toml", "popups: expected 'block'"),
        ("\x00\x01", ".toml", "invalid TOML"),
    ],
)
def test_bad_policy_file(tmp_path: Path, content: str, suffix: str, needle: str) -> None:
    path = tmp_path / f"policy{suffix}"
    path.write_text(content, encoding="utf-8")
    result = run("--config", str(path), tmp_path=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(path) in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "/nonexistent/policy.toml"],
        ["--start-url", "javascript:alert(1)"],
        ["--start-url", "https://user:pw@moodle.example.ac.uk/"],
        ["--start-url", "http://[::1"],
        ["--log-format", "xml"],
        ["--no-such-option"],
        ["a", "b"],
    ],
)
def test_bad_arguments(tmp_path: Path, args: list[str]) -> None:
    result = run(*args, tmp_path=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("lockdown:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_settings_command_documents_every_setting(tmp_path: Path) -> None:
    from lockdown.policy.settings import SETTINGS

    result = run("settings", tmp_path=tmp_path)
    assert result.returncode == 0
    for name in SETTINGS:
        assert f"\n{name}: " in "\n" + result.stdout


@pytest.mark.parametrize("columns", ["50", "120"])
def test_help_fits_the_terminal_width(tmp_path: Path, columns: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Help is laid out at $COLUMNS (the width shutil would have found, without shutil)."""
    from lockdown.cli import browser_parser

    monkeypatch.setenv("COLUMNS", columns)
    text = browser_parser().format_help()
    assert max(len(line) for line in text.splitlines()) <= int(columns)
    assert max(len(line) for line in text.splitlines()) > int(columns) - 30  # and uses it


def test_a_reader_that_stops_early_sees_no_traceback(tmp_path: Path) -> None:
    """Like `lockdown settings | head -1`, with the reader gone before the first line."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "lockdown", "settings"], cwd=ROOT,
                                env=env, stdout=write_end, stderr=subprocess.PIPE, timeout=60,
                                check=False)
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == b""


@pytest.mark.parametrize("args", [["--help"], ["--start-url", "ftp://x/"], ["--no-such-option"]])
def test_an_early_exit_waits_for_the_preload_thread(tmp_path: Path, args: list[str]) -> None:
    """Ending the process while lockdown.startup.preload's thread is inside ``dlopen`` could
    crash it at exit (SIGSEGV: CI saw it once, a shell loop in 4 of 12 tries): the thread is
    waited for at exit. Here the launcher's own early exits, each a few times."""
    for _ in range(3):
        result = run(*args, tmp_path=tmp_path)
        assert result.returncode in (0, 2), result.stderr
        assert "Traceback" not in result.stderr
