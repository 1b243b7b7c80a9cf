"""/proc parsing for the process checks, and agreement with psutil on this machine."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from lockdown.platform import processes, procfs

pytestmark = pytest.mark.skipif(not procfs.available(), reason="Linux /proc only")


def test_stat_names_may_hold_parentheses_and_spaces() -> None:
    text = "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 987654 0 0\n"
    assert procfs.parse_stat(text) == procfs.ProcStat("a) b (c)", "S", 17, 987654)


def test_boot_time_comes_from_the_btime_line() -> None:
    assert procfs.parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n") == 1.7e9
    with pytest.raises(ValueError, match="btime"):
        procfs.parse_boot_time("cpu  1 2 3\n")


@pytest.mark.parametrize(("raw", "argv"), [
    (b"/usr/bin/obs\0--scene\0main\0", ["/usr/bin/obs", "--scene", "main"]),
    (b"chromium --type=renderer --lang=en", ["chromium", "--type=renderer", "--lang=en"]),
    (b"title with spaces\0", ["title", "with", "spaces"]),  # one NUL-ended string: psutil splits
    (b"", []),
])
def test_command_lines_are_split_as_psutil_splits_them(raw: bytes, argv: list[str]) -> None:
    assert procfs.parse_cmdline(raw) == argv


def test_a_truncated_comm_is_extended_from_the_first_argument() -> None:
    assert procfs.display_name("obs-studio-port", ["/opt/obs-studio-portable/obs"]) \
        == "obs-studio-port"  # the file name does not start with it: comm stays
    assert procfs.display_name("teamviewer-dae", ["/opt/teamviewer-daemon"]) == "teamviewer-dae"
    assert procfs.display_name("teamviewer-daem", ["/opt/tv/teamviewer-daemon", "-f"]) \
        == "teamviewer-daemon"
    assert procfs.display_name("short", ["/usr/bin/something-else"]) == "short"


def test_the_process_list_agrees_with_psutil() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ours = {e.pid: e for e in processes.list_processes()}
        checked = 0
        for proc in psutil.process_iter(["name", "exe", "create_time", "cmdline"]):
            entry = ours.get(proc.pid)
            if entry is None:
                continue  # started after our listing
            info = proc.info
            if not info["cmdline"] and not info["exe"]:
                continue  # a kernel thread: kworkers rename themselves as they take work
            assert entry.name == info["name"]
            assert entry.exe == (info["exe"] or "")
            assert entry.argv0 == ((info["cmdline"] or [""])[0])
            assert abs(entry.create_time - info["create_time"]) < 0.05
            checked += 1
        assert child.pid in ours and checked >= 3
        assert os.getppid() in procfs.ancestors(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_the_process_checks_do_not_import_psutil() -> None:
    """psutil costs every exam ~2.3 MiB; on Linux the checks and the marker do without it."""
    code = ("import sys\n"
            "from lockdown.platform import base, processes\n"
            "assert processes.list_processes() and processes._protected_pids()\n"
            "assert base._process_alive(__import__('os').getpid(),"
            " base._start_time_of_this_process())\n"
            "assert 'psutil' not in sys.modules, 'psutil was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
