"""PySide6 6.12 on Python 3.11 loses None references; the reserve refills before None is freed."""

from __future__ import annotations

import sys

import pytest

from lockdown.ui.refguard import RefcountReserve, needed

#: References handed back for the ones the measurement made PySide6 lose.
_RESTORED: list[object] = []


@pytest.mark.skipif(not needed(), reason="None is immortal on Python 3.12+")
def test_void_qt_calls_lose_none_references() -> None:
    from PySide6.QtCore import QTimer

    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(1_000):
        timer.setInterval(5)  # a Qt call that returns nothing
    lost = before - sys.getrefcount(None)
    _RESTORED.extend([None] * max(lost, 0))
    assert lost >= 1_000, "PySide6 no longer loses None references: refguard can go"


@pytest.mark.skipif(not needed(), reason="None is immortal on Python 3.12+")
def test_reserve_tops_up_when_the_count_runs_low() -> None:
    relaxed = RefcountReserve(chunk=1_000, floor=10)
    relaxed.top_up()
    assert relaxed.top_ups == 0  # plenty left: nothing added
    low = RefcountReserve(chunk=1_000, floor=10**9)  # every count is "running low"
    before = sys.getrefcount(None)
    low.top_up()
    assert low.top_ups == 3  # None, True and False
    assert sys.getrefcount(None) >= before + 1_000 - 5  # getrefcount counts its own argument
