"""Prohibited-process matching and the check's verdicts (recorded process lists)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lockdown.platform.checks import DEFAULT_PROHIBITED_PROCESSES, EnvironmentPolicy
from lockdown.platform.processes import (
    ConsentRequiredError,
    ProcessInfo,
    ProcessMatch,
    check_processes,
    match_processes,
    normalise_name,
    process_check,
    terminate_processes,
)

FIXTURES = Path(__file__).parent / "fixtures"


def recorded() -> list[ProcessInfo]:
    rows = json.loads((FIXTURES / "processes.json").read_text(encoding="utf-8"))
    return [ProcessInfo(**row) for row in rows]


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("OBS64.EXE", "obs64"),
        ("C:\\Program Files\\obs-studio\\bin\\64bit\\obs64.exe", "obs64"),
        ("/Applications/zoom.us.app", "zoom.us"),
        ("/usr/bin/slack", "slack"),
        ("  Discord ", "discord"),
        ("", ""),
    ],
)
def test_normalise_name(raw: str, name: str) -> None:
    assert normalise_name(raw) == name


def test_default_list_against_a_recorded_process_list() -> None:
    matches = match_processes(recorded(), DEFAULT_PROHIBITED_PROCESSES)
    by_pid = {m.process.pid: m.rule for m in matches}
    assert by_pid == {
        1400: "obs",
        1600: "teamviewer*",
        1601: "teamviewer*",
        1700: "discord*",
        1800: "slack",
        2000: "simplescreenrecorder",  # the 15-character comm name is completed from argv0/exe
    }
    # "jobs-runner" does not contain a match for "obs"; "zoomer" is not "zoom"; VS Code is fine.
    assert not {1500, 2100, 1900} & set(by_pid)


def test_ignored_pids_are_never_reported() -> None:
    matches = match_processes(recorded(), ("obs",), ignore_pids={1400})
    assert matches == []


def test_path_rules_match_the_executable_path_only() -> None:
    processes = [
        ProcessInfo(10, "python3", "/opt/cheat/bin/helper", 1.0),
        ProcessInfo(11, "helper", "/usr/lib/helper", 1.0),
        ProcessInfo(12, "tool.exe", "C:\\Tools\\Tool.EXE", 1.0),
    ]
    matches = match_processes(processes, ("/opt/cheat/*", "c:\\tools\\tool.exe"))
    assert [(m.process.pid, m.rule) for m in matches] == [
        (10, "/opt/cheat/*"),
        (12, "c:\\tools\\tool.exe"),
    ]


def test_each_process_is_reported_once_with_the_first_rule() -> None:
    processes = [ProcessInfo(5, "obs64.exe", "C:\\obs\\obs64.exe", 1.0)]
    matches = match_processes(processes, ("obs*", "obs64", " "))
    assert [m.rule for m in matches] == ["obs*"]


def test_process_check_verdicts() -> None:
    match = ProcessMatch(ProcessInfo(7, "AnyDesk.exe"), "anydesk*")
    twice = [match, ProcessMatch(ProcessInfo(8, "AnyDesk.exe"), "anydesk*")]
    assert process_check([], "deny").status == "pass"
    warn = process_check(twice, "warn")
    assert warn.status == "warn"
    assert warn.detail == "Programs that are not allowed during the exam are running: AnyDesk.exe."
    terminate = process_check([match], "terminate")
    assert terminate.status == "deny"
    assert "asks you first" in terminate.advice
    deny = process_check([match], "deny")
    assert deny.status == "deny"
    assert "check again" in deny.advice


def test_check_processes_uses_the_policy_and_skips_this_process() -> None:
    me = ProcessInfo(os.getpid(), "obs", "/usr/bin/obs", 1.0)
    policy = EnvironmentPolicy(prohibited_process_action="deny")
    outcome = check_processes(policy, lister=lambda: [*recorded(), me])
    assert outcome.result.status == "deny"
    assert os.getpid() not in {m.process.pid for m in outcome.matches}
    assert 1400 in {m.process.pid for m in outcome.matches}


def test_check_processes_with_an_extended_list() -> None:
    policy = EnvironmentPolicy(prohibited_processes=(*DEFAULT_PROHIBITED_PROCESSES, "code"))
    outcome = check_processes(policy, lister=recorded)
    assert 1900 in {m.process.pid for m in outcome.matches}
    assert outcome.result.status == "warn"


def test_terminating_needs_consent() -> None:
    with pytest.raises(ConsentRequiredError, match="not agreed"):
        terminate_processes([ProcessMatch(ProcessInfo(1400, "obs"), "obs")], consent=False)


def test_terminate_never_touches_this_process_or_its_parent() -> None:
    own = ProcessMatch(ProcessInfo(os.getpid(), "python"), "python*")
    parent = ProcessMatch(ProcessInfo(os.getppid(), "pytest"), "pytest")
    report = terminate_processes([own, parent], consent=True, timeout_s=0.1)
    assert report.closed == ()
    assert [name for name, _ in report.failed] == ["python", "pytest"]
    assert "exam browser" in report.failed[0][1]
