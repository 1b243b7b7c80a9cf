"""Python-only start-up work, done in a thread while the GUI thread waits for Chromium.

While the start page loads, the GUI thread mostly runs Chromium's C++ code, without the GIL, and
the second core is often idle. The first use of PySide6's ``Qt`` namespace creates ~90 Python
enums (~15 ms); on the GUI thread that held the start page up by about as much, in a thread it
overlaps with the load (measured: the page's load event ~8 ms sooner).

PySide6 creates the namespace at its first access and does not guard against two threads doing
that at once, so the GUI thread must not touch ``Qt`` until the thread is done: code that may run
while the start page loads gets it from :func:`qt_namespace` (or calls :func:`finished` before
importing a module that imports it), and the app shows the window only after :attr:`Warmup.done`.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, ClassVar

from PySide6.QtCore import QObject, Signal

from lockdown import log

if TYPE_CHECKING:
    from PySide6.QtCore import Qt

#: The GIL switch interval while the thread runs: the GUI thread's Python callbacks (the request
#: interceptor above all) wait at most this long for the thread to let go of the GIL.
SWITCH_INTERVAL_S = 0.0005


def _prepare() -> None:
    from PySide6.QtCore import Qt

    Qt.WindowType  # noqa: B018 - the namespace and its enums are created at the first access
    import ctypes  # noqa: F401 - for refguard, the step after the window is shown


class Warmup(QObject):
    """Runs the preparation once per process; ``done`` is delivered on the GUI thread."""

    done = Signal()
    #: The one started in this process.
    started: ClassVar[Warmup | None] = None

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.Thread(target=self._run, name="lockdown-warmup", daemon=True)
        self._switch_interval = sys.getswitchinterval()

    def start(self) -> None:
        if Warmup.started is not None:  # a second session in this process: nothing to prepare
            self.done.emit()
            return
        Warmup.started = self
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._thread.start()

    def join(self) -> None:
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        try:
            _prepare()
        except Exception as exc:  # the GUI thread then does it at first use
            log.event("app.warmup_failed", "start-up preparation failed", level=30,
                      error=repr(exc))
        finally:
            sys.setswitchinterval(self._switch_interval)
            self.done.emit()  # queued to the GUI thread, where this object lives


def finished() -> None:
    """Wait until the preparation thread, if one was started, is done."""
    if Warmup.started is not None:
        Warmup.started.join()


def qt_namespace() -> type[Qt]:
    """PySide6's ``Qt``, safe to use on the GUI thread while the start page loads."""
    finished()
    from PySide6.QtCore import Qt

    return Qt
