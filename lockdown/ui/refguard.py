"""Keeps PySide6 6.12 on Python 3.11 from freeing ``None``, ``True`` and ``False``.

On Python 3.11, each call of a Qt method that returns nothing loses one reference to ``None``
(reproduced: 1,000 ``QTimer.setInterval`` calls lower ``sys.getrefcount(None)`` by exactly
1,000). When the count reaches zero the interpreter aborts ("none_dealloc", also seen as
"bool_dealloc"). A long exam makes enough calls to get there. Python 3.12+ makes these objects
immortal, so there the guard does nothing. On 3.11 it holds a reserve of references and tops it
up well before it could run out. That costs 8 bytes per lost reference, a few MiB over an exam.
A chunk of 65,536 (1.5 MiB for the three objects) is far more than the app can lose between two
checks a second apart (each lost reference is one Qt call made from Python).
"""

from __future__ import annotations

import sys

GUARDED: tuple[object, ...] = (None, True, False)
CHUNK = 65_536
CHECK_INTERVAL_MS = 1000


def needed() -> bool:
    return sys.version_info < (3, 12)


class RefcountReserve:
    """References held on purpose; :meth:`top_up` adds more whenever the count runs low."""

    def __init__(self, chunk: int = CHUNK, floor: int | None = None) -> None:
        self._chunk = chunk
        self._floor = chunk if floor is None else floor
        self._reserve: list[list[object]] = []
        self.top_ups = 0
        if needed():
            for obj in GUARDED:
                self._reserve.append([obj] * chunk)

    def top_up(self) -> None:
        """Add a chunk for every guarded object whose count fell under the floor."""
        if not needed():
            return
        for obj in GUARDED:
            if sys.getrefcount(obj) < self._floor:
                self._reserve.append([obj] * self._chunk)
                self.top_ups += 1


#: The process's reserve; never freed (freeing it could itself drop None's count to zero).
_ACTIVE: list[RefcountReserve] = []


def install(parent: object) -> RefcountReserve:
    """Start the reserve and a timer (owned by ``parent``, a QObject) that keeps it topped up."""
    from PySide6.QtCore import QObject, QTimer

    reserve = RefcountReserve()
    _ACTIVE.append(reserve)
    if needed() and isinstance(parent, QObject):
        timer = QTimer(parent)
        timer.setInterval(CHECK_INTERVAL_MS)
        timer.timeout.connect(reserve.top_up)
        timer.start()
    return reserve
