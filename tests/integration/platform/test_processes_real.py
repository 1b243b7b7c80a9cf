"""Prohibited-process detection and closing, with real dummy processes named like real tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from lockdown.platform.checks import EnvironmentPolicy
from lockdown.platform.processes import (
    ProcessMatch,
    check_processes,
    list_processes,
    terminate_processes,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX cat and sh")


def copied(tool: str, name: str, folder: Path) -> Path:
    """A copy of a system program under another name: the kernel reports it by that name."""
    source = shutil.which(tool)
    assert source is not None, f"{tool} is needed for this test"
    target = folder / name
    shutil.copy2(source, target)
    return target


@pytest.fixture
def fake_obs(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``cat`` renamed to ``obs``; an echoed line proves it runs as that program (exec done)."""
    exe = copied("cat", "obs", tmp_path)
    with subprocess.Popen(
        [str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("ready\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "ready\n"
        yield proc
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def stubborn_anydesk(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``sh`` renamed to ``anydesk`` that ignores SIGTERM, as some remote tools do."""
    exe = copied("sh", "anydesk", tmp_path)
    script = "trap '' TERM; echo ready; while read line; do :; done"
    with subprocess.Popen(
        [str(exe), "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        yield proc
        if proc.poll() is None:
            proc.kill()


def test_a_running_prohibited_program_is_found_by_name(
    fake_obs: subprocess.Popen[str],
) -> None:
    listed = {p.pid: p for p in list_processes()}
    assert listed[fake_obs.pid].name == "obs"
    outcome = check_processes(EnvironmentPolicy())
    mine = [m for m in outcome.matches if m.process.pid == fake_obs.pid]
    assert [m.rule for m in mine] == ["obs"]
    assert outcome.result.status == "warn"
    assert "obs" in outcome.result.detail
    print(f"\nfound: {outcome.result.detail}")


def test_found_by_executable_path_too(fake_obs: subprocess.Popen[str], tmp_path: Path) -> None:
    policy = EnvironmentPolicy(
        prohibited_processes=(str(tmp_path / "*"),), prohibited_process_action="deny"
    )
    outcome = check_processes(policy)
    assert {m.process.pid for m in outcome.matches} == {fake_obs.pid}
    assert outcome.result.status == "deny"


def test_terminate_with_consent_closes_it(fake_obs: subprocess.Popen[str]) -> None:
    policy = EnvironmentPolicy(prohibited_process_action="terminate")
    outcome = check_processes(policy)
    assert outcome.result.status == "deny"
    mine = [m for m in outcome.matches if m.process.pid == fake_obs.pid]
    report = terminate_processes(mine, consent=True, timeout_s=10)
    assert report.closed == ("obs",)
    assert report.failed == ()
    assert (
        not psutil.pid_exists(fake_obs.pid)
        or psutil.Process(fake_obs.pid).status() == psutil.STATUS_ZOMBIE
    )
    # The recheck the UI runs every few seconds now passes for this program.
    assert fake_obs.pid not in {m.process.pid for m in check_processes(policy).matches}


def test_a_program_ignoring_sigterm_is_killed(stubborn_anydesk: subprocess.Popen[str]) -> None:
    outcome = check_processes(EnvironmentPolicy())
    mine = [m for m in outcome.matches if m.process.pid == stubborn_anydesk.pid]
    assert [m.rule for m in mine] == ["anydesk*"]
    report = terminate_processes(mine, consent=True, timeout_s=0.3)
    assert report.closed == ("anydesk",)
    assert stubborn_anydesk.pid not in {p.pid for p in list_processes() if p.name == "anydesk"}


def test_a_recycled_pid_is_left_alone(fake_obs: subprocess.Popen[str]) -> None:
    outcome = check_processes(EnvironmentPolicy())
    [match] = [m for m in outcome.matches if m.process.pid == fake_obs.pid]
    # Pretend the matched process started an hour earlier: its pid now belongs to another one.
    stale = ProcessMatch(
        replace(match.process, create_time=match.process.create_time - 3600), match.rule
    )
    report = terminate_processes([stale], consent=True, timeout_s=1)
    assert report.closed == ("obs",)  # reported as gone ...
    assert fake_obs.poll() is None  # ... and the unrelated process was not touched
