"""Crash-restore with a real process killed by SIGKILL while its lockdown steps are applied."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from lockdown.platform.base import (
    MARKER_NAME,
    JsonValue,
    MarkerInUseError,
    StepRunner,
)
from tests.integration.platform.crash_helper import SENTINEL_STEP

HELPER = Path(__file__).with_name("crash_helper.py")
REPO = Path(__file__).resolve().parents[3]
SIGKILL: int = getattr(signal, "SIGKILL", 9)  # POSIX only; the test is skipped on Windows


def remove_sentinel(data: Mapping[str, JsonValue]) -> None:
    path = data["path"]
    assert isinstance(path, str)
    Path(path).unlink(missing_ok=True)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_while_applied_is_repaired_at_next_start(tmp_path: Path) -> None:
    marker_dir, sentinel = tmp_path / "data", tmp_path / "sentinel"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        [sys.executable, str(HELPER), str(marker_dir), str(sentinel)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as helper:
        assert helper.stdout is not None
        assert helper.stdout.readline().strip() == "APPLIED"
        assert sentinel.exists()

        # While the exam process lives, a second start must not "repair" its steps.
        with pytest.raises(MarkerInUseError, match=f"process {helper.pid}"):
            StepRunner.recover(marker_dir, {SENTINEL_STEP: remove_sentinel})
        assert sentinel.exists()

        helper.send_signal(SIGKILL)
        assert helper.wait(timeout=30) == -SIGKILL

    # The crash left the change and the marker behind.
    assert sentinel.exists()
    marker = json.loads((marker_dir / MARKER_NAME).read_text(encoding="utf-8"))
    assert marker["pid"] == helper.pid
    assert [s["name"] for s in marker["steps"]] == [SENTINEL_STEP, "keyboard"]

    report = StepRunner.recover(marker_dir, {SENTINEL_STEP: remove_sentinel})
    assert report.found
    assert report.restored == (SENTINEL_STEP,)
    assert report.ended_with_process == ("keyboard",)
    assert report.complete
    assert not sentinel.exists()
    assert not (marker_dir / MARKER_NAME).exists()

    # And the next exam can apply its steps again.
    assert not StepRunner.recover(marker_dir, {}).found
