"""lockdown.ui's start-up shortcut around PySide6's ``__feature__`` source scans."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import lockdown
import lockdown.ui  # installs the shortcut


def test_no_lockdown_module_selects_a_pyside_feature() -> None:
    """The shortcut answers "no feature" for every lockdown module without reading it."""
    root = Path(lockdown.__file__).parent
    users = [p for p in root.rglob("*.py") if "__feature__" in p.read_text(encoding="utf-8")
             and p != root / "ui" / "__init__.py"]
    assert users == []


def test_lockdown_modules_are_answered_without_reading_others_still_scanned() -> None:
    feature = sys.modules["PySide6.support.feature"]
    sourceless = ModuleType("lockdown.example")  # the real scan cannot read it: False
    assert feature._mod_uses_pyside(sourceless) is True
    assert feature._mod_uses_pyside(ModuleType("elsewhere")) is False
    assert feature._mod_uses_pyside(sys.modules["json"]) is False  # the standard library
    mentions = ModuleType("not_lockdown")
    mentions.__file__ = __file__  # this file mentions PySide6: the real scan reads it and says so
    assert feature._mod_uses_pyside(mentions) is True
