"""Keeps PySide6 6.12 on Python 3.11 from freeing ``None``, ``True`` and ``False``.

On Python 3.11, each call of a Qt method that returns nothing loses one reference to ``None``
(reproduced: 1,000 ``QTimer.setInterval`` calls lower ``sys.getrefcount(None)`` by exactly
1,000). When the count reaches zero the interpreter aborts ("none_dealloc", also seen as
"bool_dealloc"). A long exam makes enough calls to get there.

Python 3.12 made these objects immortal (PEP 683): their reference count is so large that no
number of lost references brings it to zero, and they are never freed. On 3.11 the guard does the
same by hand, once at start: it adds 2**40 to each count. The objects were never going to be freed
anyway, so nothing else changes; it costs no memory and needs no timer. ``ob_refcnt`` is the first
field of every object in a CPython release build; builds where it is not (``Py_TRACE_REFS``) or
other interpreters are left alone.
"""

from __future__ import annotations

import sys

GUARDED: tuple[object, ...] = (None, True, False)
#: What is added to each count: lost references would need ~35 years at a million Qt calls a
#: second to use it up.
MARGIN = 1 << 40


def needed() -> bool:
    return sys.version_info < (3, 12)


def _layout_known() -> bool:
    return sys.implementation.name == "cpython" and not hasattr(sys, "getobjects")


def immortalise() -> bool:
    """Make the guarded objects' counts unreachable by lost references; True if they are."""
    if not needed():
        return True
    if not _layout_known():
        return False
    import ctypes

    for obj in GUARDED:
        if sys.getrefcount(obj) < MARGIN:  # once per process
            ctypes.c_ssize_t.from_address(id(obj)).value += MARGIN
    return all(sys.getrefcount(obj) >= MARGIN for obj in GUARDED)
