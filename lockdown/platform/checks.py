"""Environment checks: what they return, the policy they obey, and how they are run.

Every check returns a :class:`CheckResult` the UI shows in its "environment check" view and logs
for staff. Only ``deny`` holds the student at that view; ``warn`` shows in the status strip and the
exam starts at once. Checks never block: :func:`run_checks` runs them in parallel with a deadline
and turns a slow or crashing check into an ``error`` result instead of a hang or a traceback.
"""

from __future__ import annotations

import fnmatch
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Literal, get_args

from lockdown.platform.base import PlatformError, StepResult

CheckStatus = Literal["pass", "warn", "deny", "error"]
CheckAction = Literal["pass", "warn", "deny"]
ProcessAction = Literal["warn", "terminate", "deny"]

# Names are matched case-insensitively against the process name and the executable's file name,
# without ".exe"/".app"; "*" and "?" are wildcards. Entries with a path separator match the full
# executable path instead. Chosen so that a match is a tool that records, shares or controls the
# screen, or talks to other people, and never a part of the OS.
DEFAULT_PROHIBITED_PROCESSES: tuple[str, ...] = (
    # screen recorders and capture tools
    "obs", "obs32", "obs64", "simplescreenrecorder", "kazam", "vokoscreen", "vokoscreenng",
    "recordmydesktop", "gpu-screen-recorder", "kooha", "peek", "camtasia*", "bdcam", "bandicam",
    "sharex", "snagit*", "screenrec", "loom",
    # remote control and screen sharing
    "teamviewer*", "anydesk*", "rustdesk", "x11vnc", "x0vncserver", "xvnc", "xtigervnc",
    "vncserver*", "winvnc*", "tvnserver", "vino-server", "krfb", "remoting_host",
    "chrome-remote-desktop-host", "parsecd", "splashtop*", "srserver", "screenconnect*",
    "logmein*", "ammyy*", "supremo*",
    # browser automation / remote devtools helpers
    "chromedriver", "geckodriver", "msedgedriver", "safaridriver", "operadriver",
    # chat and meeting apps
    "discord*", "slack", "teams", "ms-teams", "teams-for-linux", "zoom", "zoom.us", "skype*",
    "telegram*", "signal", "signal-desktop", "whatsapp*", "element-desktop", "webex*",
    "ciscowebexstart",
)


class PolicyValueError(PlatformError):
    """An environment policy value is not one this package understands."""


@dataclass(frozen=True)
class CheckResult:
    """One line of the environment check view: what was checked, the verdict, what to do."""

    name: str
    status: CheckStatus
    detail: str
    advice: str = ""


@dataclass(frozen=True)
class EnvironmentPolicy:
    """The policy knobs the platform code obeys (declared as settings in ``lockdown.policy``).

    ``vm``, ``remote_session`` and ``multiple_displays`` say what a finding means: ``pass``
    (allowed), ``warn`` or ``deny``. ``allowed_hostnames`` (shell-style patterns) and
    ``allowed_hypervisors`` (substrings of the detected hypervisor's name) are the institution's
    allow-list so its own virtual desktops (e.g. the Windows Virtual Desktop) pass the VM and
    remote-session checks.
    """

    vm: CheckAction = "warn"
    remote_session: CheckAction = "warn"
    multiple_displays: CheckAction = "warn"
    max_displays: int = 1
    prohibited_processes: tuple[str, ...] = DEFAULT_PROHIBITED_PROCESSES
    prohibited_process_action: ProcessAction = "warn"
    clear_clipboard: bool = True
    allowed_hostnames: tuple[str, ...] = ()
    allowed_hypervisors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for knob in ("vm", "remote_session", "multiple_displays"):
            value = getattr(self, knob)
            if value not in get_args(CheckAction):
                raise PolicyValueError(
                    f"Environment policy {knob!r} must be pass, warn or deny, not {value!r}."
                )
        if self.prohibited_process_action not in get_args(ProcessAction):
            raise PolicyValueError(
                "Environment policy 'prohibited_process_action' must be warn, terminate or deny, "
                f"not {self.prohibited_process_action!r}."
            )
        if isinstance(self.max_displays, bool) or not isinstance(self.max_displays, int):
            raise PolicyValueError("Environment policy 'max_displays' must be a whole number.")
        if self.max_displays < 1:
            raise PolicyValueError("Environment policy 'max_displays' must be at least 1.")
        for knob in ("prohibited_processes", "allowed_hostnames", "allowed_hypervisors"):
            values = getattr(self, knob)
            if not isinstance(values, tuple) or not all(
                isinstance(v, str) and v.strip() for v in values
            ):
                raise PolicyValueError(
                    f"Environment policy {knob!r} must be a tuple of non-empty strings."
                )

    def hostname_allowed(self, hostname: str | None = None) -> bool:
        """True when this computer is on the institution's allow-list (its VDI hosts)."""
        host = (hostname if hostname is not None else socket.gethostname()).lower()
        short = host.split(".", 1)[0]
        return any(
            fnmatch.fnmatchcase(host, p.lower()) or fnmatch.fnmatchcase(short, p.lower())
            for p in self.allowed_hostnames
        )

    def hypervisor_allowed(self, hypervisor: str | None) -> bool:
        """True when the detected hypervisor is one the institution allows."""
        if not hypervisor:
            return False
        found = hypervisor.lower()
        return any(allowed.lower() in found for allowed in self.allowed_hypervisors)


def decide(
    name: str,
    action: CheckAction,
    *,
    found: bool,
    detail: str,
    advice: str,
    clear_detail: str,
    allowed_detail: str | None = None,
) -> CheckResult:
    """Turn a finding and the policy's action for it into a result.

    ``allowed_detail`` (when given) overrides the action with ``pass``: the finding is on the
    institution's allow-list.
    """
    if not found:
        return CheckResult(name, "pass", clear_detail)
    if allowed_detail is not None:
        return CheckResult(name, "pass", f"{detail} {allowed_detail}")
    if action == "pass":
        return CheckResult(name, "pass", f"{detail} The exam policy allows this.")
    return CheckResult(name, action, detail, advice)


def check_displays(count: int, policy: EnvironmentPolicy) -> CheckResult:
    """Compare the number of connected displays with the policy's maximum.

    The UI calls this at start and again whenever a display is plugged in or removed.
    """
    if count < 1:
        return CheckResult(
            "displays",
            "error",
            "No display was detected.",
            "Ask the invigilator: the exam cannot check this computer's screens.",
        )
    plural = "display is" if count == 1 else "displays are"
    return decide(
        "displays",
        policy.multiple_displays,
        found=count > policy.max_displays,
        detail=f"{count} {plural} connected; the exam allows {policy.max_displays}.",
        advice="Disconnect the extra displays (or switch them to mirroring) and check again.",
        clear_detail=f"{count} {plural} connected.",
    )


def step_result_to_check(result: StepResult) -> CheckResult:
    """Show a lockdown step in the check view: applied passes, unsupported warns, failed errs."""
    if result.status == "applied":
        return CheckResult(result.name, "pass", result.detail)
    if result.status == "unsupported":
        return CheckResult(result.name, "warn", result.detail)
    return CheckResult(
        result.name, "error", result.detail, "Ask the invigilator or IT support for help."
    )


@dataclass(frozen=True)
class EnvironmentCheck:
    """A named check; ``run`` may be slow or raise, :func:`run_checks` copes with both.

    ``in_caller_thread`` checks (those that ask Qt, which is GUI-thread only) run in the thread
    that calls :func:`run_checks`, before the others are awaited; they must be quick.
    """

    name: str
    run: Callable[[], CheckResult]
    in_caller_thread: bool = False


def run_checks(checks: Sequence[EnvironmentCheck], *, timeout_s: float = 5.0) -> list[CheckResult]:
    """Run the checks; results come back in the checks' order within about ``timeout_s``.

    Worker-thread checks run in parallel. A check that raises becomes an ``error`` result with the
    message (never a traceback for the student); one that has not finished by the deadline becomes
    an ``error`` result too, and its thread is left to finish on its own (every check bounds its
    own subprocess calls).
    """
    if not checks:
        return []
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="envcheck")
    try:
        futures: list[Future[CheckResult]] = []
        for check in checks:
            if check.in_caller_thread:
                futures.append(_run_here(check.run))
            else:
                futures.append(pool.submit(check.run))
        wait_futures(futures, timeout=timeout_s)
        pairs = zip(checks, futures, strict=True)
        return [_collect(check, future, timeout_s) for check, future in pairs]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_here(run: Callable[[], CheckResult]) -> Future[CheckResult]:
    future: Future[CheckResult] = Future()
    try:
        future.set_result(run())
    except Exception as exc:
        future.set_exception(exc)
    return future


def _collect(check: EnvironmentCheck, future: Future[CheckResult], timeout_s: float) -> CheckResult:
    if not future.done():
        return CheckResult(
            check.name,
            "error",
            f"The check did not finish within {timeout_s:g} seconds.",
            "Try again; if it keeps happening, tell the invigilator.",
        )
    exc = future.exception()
    if exc is not None:
        return CheckResult(
            check.name,
            "error",
            f"The check could not run: {exc}",
            "Try again; if it keeps happening, tell the invigilator.",
        )
    return future.result()


def worst_status(results: Iterable[CheckResult]) -> CheckStatus:
    """The most serious status among ``results`` (deny > error > warn > pass)."""
    order: dict[CheckStatus, int] = {"pass": 0, "warn": 1, "error": 2, "deny": 3}
    worst: CheckStatus = "pass"
    for result in results:
        if order[result.status] > order[worst]:
            worst = result.status
    return worst


def blocks_start(results: Iterable[CheckResult]) -> bool:
    """True when a check the policy sets to deny failed: the UI stays at the check view."""
    return any(result.status == "deny" for result in results)
