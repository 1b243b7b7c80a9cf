"""Running the small OS tools the checks ask (``systemd-detect-virt``, ``sysctl``) safely.

A check must never hang the exam start or throw a traceback at the student: every command runs
without a shell, with a timeout, and a missing program or a timeout comes back as an exit code.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

# (returncode, stdout) of a command run with a timeout; injectable so tests can replay output.
CommandRunner = Callable[[Sequence[str], float], tuple[int, str]]

MISSING = 127
TIMED_OUT = 124


def run_command(argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
    """Run ``argv``; a missing program gives ``MISSING``, a timeout ``TIMED_OUT``."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (FileNotFoundError, PermissionError):
        return MISSING, ""
    except subprocess.TimeoutExpired:
        return TIMED_OUT, ""
    return done.returncode, done.stdout
