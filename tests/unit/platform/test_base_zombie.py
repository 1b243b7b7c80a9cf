"""A run killed but not yet reaped (a zombie) no longer holds its crash marker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil

from lockdown.platform.base import _process_alive


def test_zombie_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = psutil.Process(child.pid).create_time()
    assert _process_alive(child.pid, started)
    os.kill(child.pid, signal.SIGKILL)
    # Not reaped yet: wait for the kernel to make it a zombie, without collecting it.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
    assert not _process_alive(child.pid, started)
    child.wait()
