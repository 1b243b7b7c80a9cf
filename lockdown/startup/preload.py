"""Map Qt's shared libraries in a thread while the main thread reads the policy.

Importing PySide6's Qt WebEngine modules spends ~45 ms in the dynamic loader (mapping and
relocating ``libQt6WebEngineCore`` and the rest of Qt), ~1/3 of the import, and the main thread
first spends ~35 ms importing the policy code and building the policy, which need no Qt. A
``dlopen`` called through ctypes runs without the GIL, so a thread can do the loader's part
meanwhile; the later ``import`` then finds every library already mapped. Measured on 2 cores:
the start page's first request ~10 ms sooner (with :mod:`.code_cache`, ~40 ms; see the README).

The loader has one lock: a main-thread import of an extension module would wait behind a Qt
library for up to ~20 ms. :data:`MAIN_THREAD_EXTENSIONS` are therefore imported before the
thread starts (a unit test checks that the path to the browser needs no other).

The thread starts before the command line sanitises the environment. Mapping a library runs only
its initialisers; Qt WebEngine reads its variables (``QTWEBENGINE_REMOTE_DEBUGGING``,
``QTWEBENGINE_CHROMIUM_FLAGS``) when its context is created, after the sanitising, and the smoke
test's DevTools attacks from the environment check that end to end (``installers/smoke.py``).

Linux only: the Windows loader (``LoadLibraryExW``) and macOS are not measured, so there the
import does the loading itself, as before.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import Sequence

#: The PySide6 extension modules the browser imports, in import order (with their Qt libraries).
QT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtWebChannel", "QtPrintSupport",
              "QtWebEngineCore", "QtWebEngineWidgets")
#: Extension modules that the command line and policy code import while the thread runs
#: (dataclasses, typing; tomllib and json for policy files).
MAIN_THREAD_EXTENSIONS = ("_opcode", "_typing", "_datetime", "math", "_json")

#: The thread, once started (at most one per process).
_started: list[threading.Thread] = []


def extension_paths(modules: tuple[str, ...] = QT_MODULES) -> list[str]:
    """The files of ``modules`` in the PySide6 package, found without importing it."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return []
    folders = list(spec.submodule_search_locations or ()) if spec is not None else []
    paths = []
    for name in modules:
        for folder in folders:
            found = [os.path.join(folder, name + suffix)
                     for suffix in importlib.machinery.EXTENSION_SUFFIXES
                     if os.path.isfile(os.path.join(folder, name + suffix))]
            if found:
                paths.append(found[0])
                break
    return paths


def _map_libraries(paths: list[str]) -> None:
    """Any failure is left to the import to report, with its own clear message."""
    try:
        import ctypes

        dlopen = ctypes.CDLL(None).dlopen  # a foreign call: ctypes lets go of the GIL meanwhile
        dlopen.restype = ctypes.c_void_p
        dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
        flags = sys.getdlopenflags()  # as the import will: it then gets the same mapping back
        for path in paths:
            dlopen(os.fsencode(path), flags)
    except Exception:  # noqa: S110 - only a head start is lost
        pass


def start(platform: str = sys.platform) -> bool:
    """Start mapping the libraries (once per process); returns whether a thread was started."""
    if _started or platform != "linux":
        return False
    paths = extension_paths()
    if not paths:
        return False
    for name in MAIN_THREAD_EXTENSIONS:
        importlib.import_module(name)
    thread = threading.Thread(target=_map_libraries, args=(paths,), name="lockdown-preload",
                              daemon=True)
    thread.start()
    _started.append(thread)
    # Ending the process while the thread is inside dlopen can crash it at exit (SIGSEGV in about
    # a third of tries): every way out that runs Python's exit handlers waits for it first.
    atexit.register(finished)
    return True


def start_for(argv: Sequence[str], platform: str = sys.platform) -> bool:
    """:func:`start`, unless ``argv`` (``sys.argv``) runs one of the IT tools, which need no Qt."""
    from lockdown.commands import NAMES as TOOLS

    return (argv[1] if len(argv) > 1 else "") not in TOOLS and start(platform)


def finished() -> None:
    """Wait for the thread, if one was started: before the first PySide6 import, and at exit
    (registered by :func:`start`), so the process never ends inside a library's initialisers."""
    for thread in _started:
        if thread is not threading.current_thread():
            thread.join()
