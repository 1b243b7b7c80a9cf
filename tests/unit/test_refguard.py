"""PySide6 6.12 on Python 3.11 loses None references; the guard makes them unreachable."""

from __future__ import annotations

import sys

import pytest

from lockdown.ui.refguard import GUARDED, MARGIN, immortalise, needed


@pytest.mark.skipif(not needed(), reason="None is immortal on Python 3.12+")
def test_void_qt_calls_lose_none_references() -> None:
    from PySide6.QtCore import QTimer

    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(1_000):
        timer.setInterval(5)  # a Qt call that returns nothing
    lost = before - sys.getrefcount(None)
    assert lost >= 1_000, "PySide6 no longer loses None references: refguard can go"


def test_guarded_counts_are_out_of_reach_and_raised_once() -> None:
    assert immortalise()  # tests/conftest.py already did it once
    counts = [sys.getrefcount(obj) for obj in GUARDED]
    assert all(count >= MARGIN for count in counts)
    assert immortalise()
    after = [sys.getrefcount(obj) for obj in GUARDED]
    assert all(abs(a - c) < MARGIN // 2 for a, c in zip(after, counts, strict=True))  # not twice
