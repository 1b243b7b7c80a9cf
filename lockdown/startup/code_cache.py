"""A cache, made at set-up time, of the code shiboken6 compiles at every ``import PySide6``.

shiboken6 keeps its signature support (``shibokensupport``, 14 modules) as Python source inside
its extension module and compiles it at every import, with no ``.pyc`` to spare it: ~25 ms, a
sixth of importing PySide6. The set-up (``./dev.sh setup``) and the frozen build record those code
objects once, with their sources, into :data:`CACHE_FILE` (``python -m
lockdown.startup.code_cache``); at start, :func:`compiled_from_cache` hands them back for sources
that are byte for byte the ones recorded and compiles anything else as before (a PySide6 update
changes the sources: nothing recorded is used until the set-up records again).

The cache holds executable code, so only the set-up and the build write it, into the app's own
folder, never the app at run time nor a folder the student can write: it is trusted exactly as much
as the modules beside it.

No ``from __future__ import annotations`` here, on purpose: ``compile`` inherits the future
flags of its caller, and a wrapper compiled with that flag would pass it on to shiboken's code.
"""

import builtins
import contextlib
import importlib.util
import marshal
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import CodeType
from typing import Any

CACHE_FILE = Path(__file__).with_name("pyside-support.codecache")

#: file name as compiled -> (source, code object)
Codes = dict[str, tuple[bytes, CodeType]]


def _cacheable(source: object, filename: object, mode: str, flags: int, optimize: int
               ) -> str | None:
    """The key of a plain module compile from bytes (what shiboken's importer does), or None
    for any other compile, which is never cached."""
    if mode != "exec" or flags or optimize != -1 or not isinstance(source, bytes):
        return None
    return os.fsdecode(filename) if isinstance(filename, (str, bytes)) else str(filename)


@contextlib.contextmanager
def _compile_through(codes: Codes, *, recording: bool) -> Iterator[None]:
    """Replace ``compile`` meanwhile: recording, keep what it compiles in ``codes``; else,
    answer a recorded source with its recorded code."""
    original = builtins.compile

    def compile_(source: Any, filename: Any, mode: str, flags: int = 0,  # noqa: PLR0917
                 dont_inherit: bool = False, optimize: int = -1, **kwargs: Any) -> Any:
        # (builtins.compile's own signature)
        key = _cacheable(source, filename, mode, flags, optimize)
        recorded = codes.get(key) if key is not None and not recording else None
        if recorded is not None and recorded[0] == source:
            return recorded[1]
        code = original(source, filename, mode, flags, dont_inherit, optimize, **kwargs)
        if recording and key is not None and isinstance(code, CodeType):
            codes[key] = (source, code)
        return code

    builtins.compile = compile_
    try:
        yield
    finally:
        builtins.compile = original


def read(path: Path = CACHE_FILE) -> Codes:
    """The recorded code objects, or none when the file is missing, damaged or was made by
    another Python version."""
    try:
        # (S302: the file is as trusted as this module; see the module's docstring)
        magic, codes = marshal.loads(path.read_bytes())  # noqa: S302
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if magic != importlib.util.MAGIC_NUMBER or not isinstance(codes, dict):
        return {}
    return codes


@contextlib.contextmanager
def compiled_from_cache(path: Path = CACHE_FILE) -> Iterator[None]:
    """While this is active, compiling a recorded source returns the recorded code object.
    (Once PySide6 is imported there is nothing left to spare, and the file is not read.)"""
    codes = read(path) if "shiboken6" not in sys.modules else {}
    if not codes:
        yield
        return
    with _compile_through(codes, recording=False):
        yield


def record(path: Path = CACHE_FILE) -> int:
    """Import PySide6, keeping what it compiles, and write the cache; returns how many code
    objects it holds. Needs a process that has not imported PySide6 yet."""
    if "shiboken6" in sys.modules:
        raise RuntimeError("PySide6 is already imported: record in a new process")
    codes: Codes = {}
    with _compile_through(codes, recording=True):
        import PySide6  # noqa: F401, TID251  # imported only for what it compiles
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    temporary.write_bytes(marshal.dumps((importlib.util.MAGIC_NUMBER, codes)))
    os.replace(temporary, path)  # a starting app reads either the old file or the new one
    return len(codes)


def main() -> int:
    try:
        count = record()
    except (ImportError, OSError, RuntimeError) as exc:
        print(f"lockdown: could not record PySide6's support code: {exc}", file=sys.stderr)
        return 1
    print(f"recorded {count} code objects of PySide6's support code in {CACHE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
