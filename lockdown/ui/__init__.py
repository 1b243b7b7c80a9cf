"""The Qt side of lockdown: the only package that imports PySide6.

Its first import of PySide6 waits for Qt's libraries to be mapped and takes shiboken6's support
code from the set-up's cache (:mod:`lockdown.startup`).

Importing it also spares PySide6 6.12 some work on the way to the first page. After every module
import, PySide6's ``__feature__`` support reads that module's whole source file to learn whether
it mentions "PySide6" (``_mod_uses_pyside``): 7-15 ms for the ~80 modules imported after PySide6
on the way to the start page, most of them standard-library ones. The standard library never
mentions PySide6: those are answered "no" without reading. No lockdown module uses
``from __feature__ import`` (a unit test checks), so ours are answered "uses PySide6, with no
feature", the plain Qt API they are written against. Other modules are still scanned. (A frozen
build has no sources: there every scan already answers "no", and the app works the same.)
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

from lockdown.startup import code_cache, preload

preload.finished()  # the first PySide6 import comes next: Qt's libraries are mapped by now
with code_cache.compiled_from_cache():
    import PySide6  # noqa: F401  # loads PySide6.support.feature


def _spare_source_scans() -> None:
    feature = sys.modules.get("PySide6.support.feature")
    scan = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or scan is None or getattr(scan, "spared", False):
        return  # another PySide6 version: leave it as it is

    stdlib = os.path.dirname(os.__file__) + os.sep

    def uses_pyside(module: ModuleType) -> bool:
        name = getattr(module, "__name__", "")
        if name == "lockdown" or name.startswith("lockdown."):
            return True
        if str(getattr(module, "__file__", None) or "").startswith(stdlib):
            return False  # the standard library never mentions PySide6
        return bool(scan(module))

    uses_pyside.spared = True  # type: ignore[attr-defined]
    feature._mod_uses_pyside = uses_pyside  # type: ignore[attr-defined]


_spare_source_scans()
