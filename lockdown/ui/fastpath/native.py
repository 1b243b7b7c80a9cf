"""Loads the C++ fast path and puts it in front of a Python request interceptor."""

from __future__ import annotations

import ctypes
import functools
import logging
from typing import cast

import shiboken6
from PySide6.QtWebEngineCore import QWebEngineUrlRequestInterceptor

from lockdown import log
from lockdown.ui.fastpath import UnsupportedPlatform, library_path

#: The version interceptor.cpp reports; a library built from another source is not used.
ABI_VERSION = 1


@functools.cache
def library() -> ctypes.CDLL | None:
    """The built library, or None (logged once) when there is none that fits."""
    loaded = _load()
    if isinstance(loaded, str):
        log.event("interceptor.fast_path_unavailable",
                  f"the Python interceptor sees every request: {loaded}", level=logging.INFO,
                  reason=loaded)
        return None
    return loaded


def _load() -> ctypes.CDLL | str:
    """The library, or why there is none."""
    try:
        path = library_path()
    except UnsupportedPlatform as exc:
        return str(exc)
    if not path.is_file():
        return f"{path.name} is not built (python -m lockdown.ui.fastpath.build)"
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        return f"{path.name} does not load: {exc}"
    lib.lockdown_fastpath_abi.restype = ctypes.c_int
    if (abi := lib.lockdown_fastpath_abi()) != ABI_VERSION:
        return f"{path.name} is of version {abi}, not {ABI_VERSION}: rebuild it"
    lib.lockdown_fastpath_new.argtypes = [ctypes.c_void_p]
    lib.lockdown_fastpath_new.restype = ctypes.c_void_p
    lib.lockdown_fastpath_set_prefixes.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
    lib.lockdown_fastpath_set_prefixes.restype = None
    lib.lockdown_fastpath_prefix_count.argtypes = [ctypes.c_void_p]
    lib.lockdown_fastpath_prefix_count.restype = ctypes.c_int
    return lib


class FastPath:
    """The C++ interceptor for the profile; every request it does not let through goes to
    ``slow``. It is a Qt child of ``slow``, so it lives exactly as long as that one."""

    def __init__(self, lib: ctypes.CDLL, slow: QWebEngineUrlRequestInterceptor) -> None:
        self._lib = lib
        self._handle: int = lib.lockdown_fastpath_new(shiboken6.getCppPointer(slow)[0])
        #: A wrapper that does not own the C++ object (its Qt parent does).
        self.interceptor = cast(QWebEngineUrlRequestInterceptor, shiboken6.wrapInstance(
            self._handle, QWebEngineUrlRequestInterceptor))

    def set_prefixes(self, prefixes: tuple[str, ...]) -> None:
        """Requests whose URL starts with one of these are allowed without asking Python.
        GUI thread only (where Qt runs the interceptor)."""
        # The URLs it compares are ASCII (toEncoded): a prefix that is not could never match.
        encoded = [prefix.encode("ascii") for prefix in prefixes if prefix.isascii()]
        array = (ctypes.c_char_p * len(encoded))(*encoded)
        self._lib.lockdown_fastpath_set_prefixes(self._handle, array, len(encoded))

    def prefix_count(self) -> int:
        count: int = self._lib.lockdown_fastpath_prefix_count(self._handle)
        return count


def attach(slow: QWebEngineUrlRequestInterceptor) -> FastPath | None:
    lib = library()
    return FastPath(lib, slow) if lib is not None else None
