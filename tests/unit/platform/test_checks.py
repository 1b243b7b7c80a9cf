"""Check results, the environment policy, the display check and the check runner."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lockdown.platform.base import PlatformError, StepResult
from lockdown.platform.checks import (
    DEFAULT_PROHIBITED_PROCESSES,
    CheckResult,
    EnvironmentCheck,
    EnvironmentPolicy,
    PolicyValueError,
    blocks_start,
    check_displays,
    decide,
    run_checks,
    step_result_to_check,
    worst_status,
)
from lockdown.platform.steps import CallableStep, ClipboardStep, UnsupportedStep


def test_defaults_warn_and_never_deny() -> None:
    policy = EnvironmentPolicy()
    assert (policy.vm, policy.remote_session, policy.multiple_displays) == ("warn",) * 3
    assert policy.prohibited_process_action == "warn"
    assert policy.max_displays == 1
    assert policy.clear_clipboard is True
    assert "obs" in policy.prohibited_processes
    assert "teamviewer*" in policy.prohibited_processes


def test_default_process_list_is_normalised_and_unique() -> None:
    assert len(set(DEFAULT_PROHIBITED_PROCESSES)) == len(DEFAULT_PROHIBITED_PROCESSES)
    for name in DEFAULT_PROHIBITED_PROCESSES:
        assert name == name.lower().strip()
        assert not name.endswith(".exe")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vm": "allow"}, "'vm' must be pass, warn or deny, not 'allow'"),
        ({"remote_session": "block"}, "'remote_session' must be pass, warn or deny"),
        ({"multiple_displays": ""}, "'multiple_displays' must be pass, warn or deny"),
        ({"prohibited_process_action": "kill"}, "must be warn, terminate or deny, not 'kill'"),
        ({"max_displays": 0}, "'max_displays' must be at least 1"),
        ({"max_displays": True}, "'max_displays' must be a whole number"),
        ({"max_displays": 1.5}, "'max_displays' must be a whole number"),
        ({"prohibited_processes": ["obs"]}, "'prohibited_processes' must be a tuple"),
        ({"prohibited_processes": ("obs", " ")}, "'prohibited_processes' must be a tuple"),
        ({"allowed_hostnames": ("",)}, "'allowed_hostnames' must be a tuple"),
    ],
)
def test_bad_policy_values_raise_a_clear_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyValueError, match=message):
        EnvironmentPolicy(**kwargs)
    assert issubclass(PolicyValueError, PlatformError)


@pytest.mark.parametrize(
    ("hostname", "allowed"),
    [
        ("avd-exam-07", True),
        ("AVD-EXAM-07.campus.example.ac.uk", True),
        ("vdi.example.ac.uk", True),
        ("laptop-42", False),
        ("my-avd-exam-1", False),
    ],
)
def test_hostname_allow_list(hostname: str, allowed: bool) -> None:
    policy = EnvironmentPolicy(allowed_hostnames=("avd-exam-*", "vdi.example.ac.uk"))
    assert policy.hostname_allowed(hostname) is allowed


def test_empty_allow_lists_allow_nothing() -> None:
    policy = EnvironmentPolicy()
    assert not policy.hostname_allowed("anything")
    assert not policy.hypervisor_allowed("Microsoft Hyper-V")


def test_hypervisor_allow_list_matches_case_insensitive_substrings() -> None:
    policy = EnvironmentPolicy(allowed_hypervisors=("hyper-v",))
    assert policy.hypervisor_allowed("Microsoft Hyper-V")
    assert not policy.hypervisor_allowed("VirtualBox")
    assert not policy.hypervisor_allowed(None)


def test_decide_maps_each_action() -> None:
    common: dict[str, Any] = {"detail": "VM.", "advice": "Do X.", "clear_detail": "No VM."}
    assert decide("vm", "deny", found=False, **common) == CheckResult("vm", "pass", "No VM.")
    assert decide("vm", "warn", found=True, **common) == CheckResult("vm", "warn", "VM.", "Do X.")
    assert decide("vm", "deny", found=True, **common) == CheckResult("vm", "deny", "VM.", "Do X.")
    allowed = decide("vm", "pass", found=True, **common)
    assert allowed.status == "pass"
    assert "policy allows" in allowed.detail
    listed = decide("vm", "deny", found=True, allowed_detail="On the allow-list.", **common)
    assert listed == CheckResult("vm", "pass", "VM. On the allow-list.")


@pytest.mark.parametrize(
    ("count", "action", "maximum", "status"),
    [
        (1, "deny", 1, "pass"),
        (2, "warn", 1, "warn"),
        (2, "deny", 1, "deny"),
        (2, "pass", 1, "pass"),
        (2, "deny", 2, "pass"),
        (3, "deny", 2, "deny"),
        (0, "warn", 1, "error"),
    ],
)
def test_display_check(count: int, action: Any, maximum: int, status: str) -> None:
    result = check_displays(
        count, EnvironmentPolicy(multiple_displays=action, max_displays=maximum)
    )
    assert result.name == "displays"
    assert result.status == status
    if status in ("warn", "deny"):
        assert f"{count} displays are connected; the exam allows {maximum}" in result.detail
        assert "Disconnect" in result.advice


def test_step_results_show_in_the_check_view() -> None:
    assert step_result_to_check(StepResult("k", "applied", "ok")).status == "pass"
    unsupported = step_result_to_check(StepResult("screen-capture", "unsupported", "cannot"))
    assert (unsupported.status, unsupported.detail) == ("warn", "cannot")
    failed = step_result_to_check(StepResult("k", "failed", "boom"))
    assert failed.status == "error"
    assert failed.advice


def test_run_checks_keeps_order_and_turns_exceptions_into_errors() -> None:
    def ok() -> CheckResult:
        return CheckResult("a", "pass", "fine")

    def broken() -> CheckResult:
        raise PlatformError("Windows did not provide the SMBIOS firmware table.")

    results = run_checks([EnvironmentCheck("a", ok), EnvironmentCheck("b", broken)])
    assert results[0] == CheckResult("a", "pass", "fine")
    assert results[1].name == "b"
    assert results[1].status == "error"
    assert "SMBIOS firmware table" in results[1].detail


def test_run_checks_gives_up_on_a_slow_check_without_waiting_for_it() -> None:
    release = threading.Event()

    def stuck() -> CheckResult:
        release.wait(timeout=30)
        return CheckResult("slow", "pass", "late")

    try:
        results = run_checks(
            [
                EnvironmentCheck("slow", stuck),
                EnvironmentCheck("fast", lambda: CheckResult("fast", "pass", "")),
            ],
            timeout_s=0.05,
        )
    finally:
        release.set()
    assert results[0].status == "error"
    assert "did not finish within 0.05 seconds" in results[0].detail
    assert results[1].status == "pass"


def test_caller_thread_checks_run_in_the_calling_thread() -> None:
    threads: dict[str, int] = {}

    def record(name: str) -> CheckResult:
        threads[name] = threading.get_ident()
        return CheckResult(name, "pass", "")

    run_checks(
        [
            EnvironmentCheck("qt", lambda: record("qt"), in_caller_thread=True),
            EnvironmentCheck("worker", lambda: record("worker")),
        ]
    )
    assert threads["qt"] == threading.get_ident()
    assert threads["worker"] != threading.get_ident()


def test_caller_thread_check_exception_becomes_an_error() -> None:
    def broken() -> CheckResult:
        raise RuntimeError("no screens")

    [result] = run_checks([EnvironmentCheck("displays", broken, in_caller_thread=True)])
    assert result.status == "error"
    assert "no screens" in result.detail


def test_run_checks_of_nothing() -> None:
    assert run_checks([]) == []


def test_worst_status_and_blocking() -> None:
    results = [CheckResult("a", "pass", ""), CheckResult("b", "warn", "")]
    assert worst_status(results) == "warn"
    assert not blocks_start(results)
    results.append(CheckResult("c", "error", ""))
    assert worst_status(results) == "error"
    assert not blocks_start(results)  # an error is shown, but only deny holds the student
    results.append(CheckResult("d", "deny", ""))
    assert worst_status(results) == "deny"
    assert blocks_start(results)
    assert worst_status([]) == "pass"


def test_callable_step_calls_through_and_reports() -> None:
    calls: list[str] = []
    step = CallableStep(
        "keyboard", lambda: calls.append("grab"), lambda: calls.append("release"), detail="held"
    )
    result = step.apply()
    assert (result.name, result.status, result.detail, result.restore_data) == (
        "keyboard",
        "applied",
        "held",
        None,
    )
    step.restore()
    assert calls == ["grab", "release"]


@pytest.mark.parametrize(("after_crash", "data"), [(True, {"clear": True}), (False, None)])
def test_clipboard_step_clears_at_start_and_end(after_crash: bool, data: object) -> None:
    cleared: list[int] = []
    step = ClipboardStep(lambda: cleared.append(1), clear_after_crash=after_crash)
    result = step.apply()
    assert result.restore_data == data
    assert result.status == "applied"
    step.restore()
    assert len(cleared) == 2


def test_unsupported_step_changes_nothing() -> None:
    step = UnsupportedStep("screen-capture", "Linux cannot stop screen capture.")
    result = step.apply()
    assert result.status == "unsupported"
    assert result.detail == "Linux cannot stop screen capture."
    step.restore()  # nothing to undo, must not raise
