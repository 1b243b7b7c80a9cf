"""The request interceptor's fast path in C++ (interceptor.cpp), loaded by :mod:`.native`.

Qt 6 calls the request interceptor on the GUI thread for every request of every page. With a
Python interceptor each call pays for the binding (the GIL, a wrapper for the request, a Python
frame) before any policy is asked, and reading the URL in Python costs as much again. On a page
with 300 sub-resources that was ~3 points of load time for an empty Python interceptor and ~4.5
for the app's (2 cores). Most requests of an exam page go to an origin that the policy allows
whatever the path (``Decider.any_kind_prefixes``): a small C++ interceptor lets those through
on a prefix test and hands every other request to the Python interceptor, which still makes
every decision (~0.5 points in all). The policy stays in Python: with no prefixes, the C++ side
sends everything on.

This module stays free of Qt and ctypes so that :mod:`.build` can use it cheaply.
"""

from __future__ import annotations

import sys
from pathlib import Path

LIBRARY_NAMES = {"linux": "liblockdown_fastpath.so", "darwin": "liblockdown_fastpath.dylib",
                 "win32": "lockdown_fastpath.dll"}


class UnsupportedPlatform(Exception):
    pass


def platform_key(platform: str | None = None) -> str:
    platform = platform or sys.platform
    if platform.startswith("linux"):
        return "linux"
    if platform in ("darwin", "win32"):
        return platform
    raise UnsupportedPlatform(f"no fast-path library for platform {platform!r}")


def library_path(platform: str | None = None) -> Path:
    return Path(__file__).resolve().parent / LIBRARY_NAMES[platform_key(platform)]
