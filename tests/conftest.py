"""Test-wide environment: headless Qt, and the sandbox switch root needs (never set by the app)."""

from __future__ import annotations

import os
import sys

import pytest

from lockdown.ui import refguard

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

pytest_plugins = ["tests.support.protocol_server"]

_exit_status = 0
#: PySide6 6.12 on Python 3.11 loses references to None/True/False on Qt calls (see
#: lockdown/ui/refguard.py); hundreds of real-engine tests would otherwise free None mid-run.
refguard.immortalise()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Skip interpreter finalisation once QtWebEngine has run in this process.

    PySide6 6.12 on Python 3.11 loses a reference to None (and sometimes True/False) on Qt calls
    (see lockdown/ui/refguard.py), so Python finalisation can abort with "none_dealloc" or
    "bool_dealloc" after every test passed and the summary was printed. The results are final
    by now, so leave with pytest's own exit status instead of letting finalisation turn it into
    SIGABRT.
    """
    del config
    if "PySide6.QtCore" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
