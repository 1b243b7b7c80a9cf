"""Child process for the crash-restore test: applies lockdown steps, then waits to be killed.

Usage: python crash_helper.py MARKER_DIR SENTINEL_FILE

It applies a step whose change outlives the process (it writes SENTINEL_FILE, like a changed
system setting) and one whose change dies with it, prints APPLIED once the marker is on disk,
and blocks reading stdin until the test kills it with SIGKILL.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lockdown.platform.base import LockdownStep, StepResult, StepRunner
from lockdown.platform.steps import CallableStep

SENTINEL_STEP = "sentinel-file"


class SentinelStep:
    """Writes a file on apply and removes it on restore; a crash leaves the file behind."""

    name = SENTINEL_STEP

    def __init__(self, path: Path) -> None:
        self._path = path

    def apply(self) -> StepResult:
        self._path.write_text("locked by the exam", encoding="utf-8")
        return StepResult(self.name, "applied", "sentinel written", {"path": str(self._path)})

    def restore(self) -> None:
        self._path.unlink(missing_ok=True)


def main() -> None:
    marker_dir, sentinel = Path(sys.argv[1]), Path(sys.argv[2])
    steps: list[LockdownStep] = [
        SentinelStep(sentinel),
        CallableStep("keyboard", lambda: None, lambda: None, detail="grab (dies with process)"),
    ]
    StepRunner(steps, marker_dir).apply_all()
    print("APPLIED", flush=True)
    sys.stdin.read()  # until killed


if __name__ == "__main__":
    main()
