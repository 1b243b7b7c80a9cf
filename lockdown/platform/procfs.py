"""Processes as Linux's ``/proc`` describes them, for the checks every exam runs.

The prohibited-process check and the lockdown marker need a process's name, executable, first
argument, parent, state and start time. psutil gives the same, but importing it costs each exam
browser ~2.3 MiB of memory; on Linux these few files are enough. psutil stays for Windows and
macOS, and for closing programs (rare, and only with the student's consent). The values match
psutil's: the name is ``comm``, extended from the command line when the kernel truncated it, and
the start time is the boot time plus the start tick.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

PROC = "/proc"
#: The kernel truncates ``comm`` to 15 characters.
_COMM_LIMIT = 15


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/PID/stat`` these checks use."""

    comm: str
    state: str
    ppid: int
    start_ticks: int


def available() -> bool:
    return sys.platform.startswith("linux") and os.path.isdir(f"{PROC}/self")


def parse_stat(text: str) -> ProcStat:
    """``/proc/PID/stat``; the name sits in parentheses and may itself hold ``)`` or spaces."""
    open_at, close_at = text.index("("), text.rindex(")")
    fields = text[close_at + 2 :].split()
    # After the name: state (field 3), ppid (4), ... starttime (22).
    return ProcStat(text[open_at + 1 : close_at], fields[0], int(fields[1]), int(fields[19]))


def parse_boot_time(text: str) -> float:
    """The ``btime`` line of ``/proc/stat``: when the machine booted, in seconds since 1970."""
    for line in text.splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise ValueError("no btime line in /proc/stat")


@functools.cache
def boot_time() -> float:
    with open(f"{PROC}/stat", encoding="ascii") as file:
        return parse_boot_time(file.read())


def stat(pid: int) -> ProcStat | None:
    """None when the process is gone (or was never there)."""
    try:
        with open(f"{PROC}/{pid}/stat", encoding="utf-8", errors="replace") as file:
            return parse_stat(file.read())
    except (OSError, ValueError, IndexError):
        return None


def start_time(status: ProcStat) -> float:
    return boot_time() + status.start_ticks / os.sysconf("SC_CLK_TCK")


def ancestors(pid: int) -> list[int]:
    """The parent, its parent, and so on up to (not including) pid 0."""
    found: list[int] = []
    status = stat(pid)
    while status is not None and status.ppid > 0 and status.ppid not in found:
        found.append(status.ppid)
        status = stat(status.ppid)
    return found


def display_name(comm: str, argv: list[str]) -> str:
    """``comm``, or the first argument's file name when the kernel cut ``comm`` short."""
    if len(comm) >= _COMM_LIMIT and argv:
        extended = os.path.basename(argv[0])
        if extended.startswith(comm):
            return extended
    return comm


def exe(pid: int) -> str:
    try:
        path = os.readlink(f"{PROC}/{pid}/exe")
    except OSError:
        return ""  # another user's process, a kernel thread, or gone
    if path.endswith(" (deleted)") and not os.path.exists(path):
        path = path[: -len(" (deleted)")]
    return path


def parse_cmdline(raw: bytes) -> list[str]:
    """``/proc/PID/cmdline``, split as psutil does: NUL-separated, or by spaces when a program
    rewrote its command line as one string (Chromium's helpers and others set a title so)."""
    text = raw.decode("utf-8", "replace")
    if not text:
        return []
    sep = "\0" if text.endswith("\0") else " "
    text = text.removesuffix(sep)
    argv = text.split(sep)
    if sep == "\0" and len(argv) == 1 and " " in text:
        argv = text.split(" ")
    return argv


def argv(pid: int) -> list[str]:
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as file:
            return parse_cmdline(file.read())
    except OSError:
        return []


def pids() -> list[int]:
    """Every process id this user can see (some may end before they are read)."""
    return [int(name) for name in os.listdir(PROC) if name.isdigit()]
