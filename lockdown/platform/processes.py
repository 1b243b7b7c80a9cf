"""Prohibited processes: find them, report them, and close them with consent.

Finding them reads ``/proc`` on Linux (:mod:`lockdown.platform.procfs`, which spares every exam
the ~2.3 MiB psutil costs) and uses psutil elsewhere; closing them always uses psutil.

The policy lists process names (shell-style patterns, case-insensitive, without ``.exe``/``.app``)
or executable paths (any entry with a path separator). The UI runs :func:`check_processes` at
start and every few seconds during the exam; what a match means is the policy's
``prohibited_process_action``: ``warn``, ``terminate`` (the student is asked first, then
:func:`terminate_processes` closes them) or ``deny`` (the exam does not start until they are
closed).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lockdown.platform import procfs
from lockdown.platform.base import START_TIME_TOLERANCE_S, PlatformError
from lockdown.platform.checks import CheckResult, EnvironmentPolicy, ProcessAction

if TYPE_CHECKING:
    import psutil


class ConsentRequiredError(PlatformError):
    """Closing another program needs the student's explicit consent."""


@dataclass(frozen=True)
class ProcessInfo:
    """What matching needs to know about a running process."""

    pid: int
    name: str
    exe: str = ""
    create_time: float = 0.0
    argv0: str = ""

    @property
    def display_name(self) -> str:
        return self.name or os.path.basename(self.exe) or f"process {self.pid}"


@dataclass(frozen=True)
class ProcessMatch:
    """A running process and the policy entry it matched."""

    process: ProcessInfo
    rule: str


@dataclass(frozen=True)
class ProcessCheck:
    """The check result plus the matches, which the UI needs to offer closing them."""

    result: CheckResult
    matches: tuple[ProcessMatch, ...]


@dataclass(frozen=True)
class TerminationReport:
    """Which matched programs were closed and which could not be (with the reason)."""

    closed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


def normalise_name(name: str) -> str:
    """``C:\\Tools\\OBS64.EXE`` -> ``obs64``: file name only, lower case, no ``.exe``/``.app``."""
    base = name.strip().replace("\\", "/").rsplit("/", 1)[-1].lower()
    for suffix in (".exe", ".app"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _is_path_rule(rule: str) -> bool:
    return "/" in rule or "\\" in rule


def _normalise_path(path: str) -> str:
    return path.strip().replace("\\", "/").lower()


def match_processes(
    processes: Iterable[ProcessInfo], rules: Sequence[str], *, ignore_pids: Collection[int] = ()
) -> list[ProcessMatch]:
    """The processes that match a rule, each reported once with the first rule it matched."""
    compiled = [
        (rule, True, _normalise_path(rule))
        if _is_path_rule(rule)
        else (rule, False, normalise_name(rule))
        for rule in rules
        if rule.strip()
    ]
    matches: list[ProcessMatch] = []
    for process in processes:
        if process.pid in ignore_pids:
            continue
        names = {normalise_name(n) for n in (process.name, process.exe, process.argv0)} - {""}
        exe = _normalise_path(process.exe)
        for rule, is_path, pattern in compiled:
            if is_path:
                hit = bool(exe) and fnmatch.fnmatchcase(exe, pattern)
            else:
                hit = any(fnmatch.fnmatchcase(name, pattern) for name in names)
            if hit:
                matches.append(ProcessMatch(process, rule))
                break
    return matches


def list_processes() -> list[ProcessInfo]:
    """The running processes as far as this user may see them (no exception for denied ones)."""
    if procfs.available():
        return _list_from_proc()
    import psutil

    infos: list[ProcessInfo] = []
    attrs = ["pid", "name", "exe", "create_time", "cmdline"]
    for proc in psutil.process_iter(attrs, ad_value=None):
        info = proc.info
        cmdline = info.get("cmdline") or []
        infos.append(
            ProcessInfo(
                pid=int(info["pid"]),
                name=str(info.get("name") or ""),
                exe=str(info.get("exe") or ""),
                create_time=float(info.get("create_time") or 0.0),
                argv0=str(cmdline[0]) if cmdline else "",
            )
        )
    return infos


def _list_from_proc() -> list[ProcessInfo]:
    """Linux: the same values psutil gives, from ``/proc`` (see :mod:`procfs`); processes that
    end while listed are left out."""
    infos: list[ProcessInfo] = []
    for pid in procfs.pids():
        status = procfs.stat(pid)
        if status is None:
            continue
        argv = procfs.argv(pid)
        infos.append(ProcessInfo(pid, procfs.display_name(status.comm, argv), procfs.exe(pid),
                                 procfs.start_time(status), argv[0] if argv else ""))
    return infos


def process_check(matches: Sequence[ProcessMatch], action: ProcessAction) -> CheckResult:
    """The environment check result for the matches under the policy's action."""
    if not matches:
        return CheckResult("prohibited-processes", "pass", "No prohibited program is running.")
    names = ", ".join(sorted({m.process.display_name for m in matches}, key=str.lower))
    detail = f"Programs that are not allowed during the exam are running: {names}."
    if action == "warn":
        advice = "Close these programs; the exam will note that they were running."
        return CheckResult("prohibited-processes", "warn", detail, advice)
    if action == "terminate":
        advice = "Close these programs, or let the exam browser close them (it asks you first)."
    else:
        advice = "Close these programs, then check again. The exam starts when they are closed."
    return CheckResult("prohibited-processes", "deny", detail, advice)


def check_processes(
    policy: EnvironmentPolicy, *, lister: Callable[[], Iterable[ProcessInfo]] = list_processes
) -> ProcessCheck:
    """Look for prohibited programs now, for the UI's recheck every few seconds.

    Costs about 0.2 ms per running process (20 ms for 100): run it off the GUI thread.
    """
    matches = match_processes(lister(), policy.prohibited_processes, ignore_pids=_protected_pids())
    return ProcessCheck(process_check(matches, policy.prohibited_process_action), tuple(matches))


def _protected_pids() -> set[int]:
    """This process and its ancestors: never reported, never closed."""
    if procfs.available():
        return {os.getpid(), *procfs.ancestors(os.getpid())}
    import psutil

    me = psutil.Process()
    protected = {me.pid}
    with contextlib.suppress(psutil.Error):
        protected.update(parent.pid for parent in me.parents())
    return protected


def terminate_processes(
    matches: Sequence[ProcessMatch], *, consent: bool, timeout_s: float = 3.0
) -> TerminationReport:
    """Close the matched programs: politely first, forcibly after ``timeout_s``.

    ``consent`` must be True: the student agreed in the UI. A process that is gone already, or
    whose pid now belongs to a different process, is not touched.
    """
    if not consent:
        raise ConsentRequiredError(
            "The student has not agreed to close these programs; ask before closing them."
        )
    import psutil

    protected = _protected_pids()
    closed: list[str] = []
    failed: list[tuple[str, str]] = []
    targets: dict[psutil.Process, str] = {}
    for match in matches:
        name = match.process.display_name
        if match.process.pid in protected:
            failed.append((name, "it is the exam browser or the program that started it"))
            continue
        try:
            proc = psutil.Process(match.process.pid)
            started = match.process.create_time
            if started and abs(proc.create_time() - started) > START_TIME_TOLERANCE_S:
                closed.append(name)  # the matched process has exited; its pid was reused
                continue
            proc.terminate()
            targets[proc] = name
        except psutil.NoSuchProcess:
            closed.append(name)
        except psutil.AccessDenied:
            failed.append((name, "this user may not close it; close it yourself"))
    _gone, alive = psutil.wait_procs(list(targets), timeout=timeout_s)
    denied: set[psutil.Process] = set()
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            denied.add(proc)
    _gone, still_alive = psutil.wait_procs([p for p in alive if p not in denied], timeout=timeout_s)
    for proc, name in targets.items():
        if proc in denied:
            failed.append((name, "this user may not close it; close it yourself"))
        elif proc in still_alive:
            failed.append((name, "it did not close when asked"))
        else:
            closed.append(name)
    return TerminationReport(tuple(closed), tuple(failed))
