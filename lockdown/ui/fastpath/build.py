"""Builds the interceptor's C++ fast path (interceptor.cpp) beside this file.

``python -m lockdown.ui.fastpath.build`` is run by ``dev.sh setup`` and by ``build.spec``. It
needs a C++ compiler and Qt 6 headers; the Qt libraries are PySide6's own. Any Qt 6 headers do:
Qt 6 stays binary compatible across minor versions, and the file uses only API that exists since
Qt 6.2 (Qt WebEngine's first Qt 6 release). PySide6's wheels ship no headers, so they are found,
in this order:

- ``--qt-include DIR`` or ``LOCKDOWN_QT_INCLUDE`` (for Windows and macOS: the ``include`` folder
  of an ``aqt install-qt`` of the same Qt version, whose ``lib`` folder then gives the import
  libraries Windows links against);
- installed Qt 6 development headers (``/usr/include/<multiarch>/qt6``, ``/usr/include/qt6``);
- on Debian and Ubuntu, ``qt6-base-dev`` and ``qt6-webengine-dev`` fetched with
  ``apt-get download`` and unpacked into the virtual environment (nothing is installed).

Without a compiler or headers it exits 1 with the reason and the app uses the Python interceptor
alone (same decisions, ~3-4 % slower loads of pages with hundreds of sub-resources). Exit 0 when
the library is up to date.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from lockdown.ui.fastpath import UnsupportedPlatform, library_path, platform_key

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "interceptor.cpp"
DEBIAN_PACKAGES = ("qt6-base-dev", "qt6-webengine-dev")
#: Headers the source includes; a candidate folder without them is passed over.
NEEDED_HEADERS = ("QtCore/QUrl", "QtWebEngineCore/QWebEngineUrlRequestInterceptor")


class BuildError(Exception):
    """Why the fast path cannot be built here; the app then runs without it."""


@dataclass(frozen=True)
class Toolchain:
    """Where the compiler, the headers and PySide6's Qt libraries are."""

    compiler: str
    qt_include: Path
    #: PySide6's Qt libraries, linked against on Linux (macOS resolves at load time).
    pyside_qt_lib: Path
    #: Windows only: the folder with Qt6Core.lib and Qt6WebEngineCore.lib (PySide6 ships DLLs).
    import_lib: Path | None = None


def compile_command(platform: str, tools: Toolchain, output: Path) -> list[str]:
    """The compiler's argument list; pure, so each platform's is tested everywhere."""
    key = platform_key(platform)
    include = str(tools.qt_include)
    if key == "linux":
        lib = str(tools.pyside_qt_lib)
        # Linked by soname to the libraries PySide6 has already loaded when the app loads this.
        return [tools.compiler, "-std=c++17", "-O2", "-fPIC", "-shared", "-fvisibility=hidden",
                "-I", include, str(SOURCE), "-o", str(output), "-L", lib,
                "-l:libQt6WebEngineCore.so.6", "-l:libQt6Core.so.6"]
    if key == "darwin":
        # Symbols are looked up in the images already loaded (PySide6's frameworks), as Python
        # extensions do, so the library works from the venv and from the frozen app alike.
        return [tools.compiler, "-std=c++17", "-O2", "-fPIC", "-dynamiclib",
                "-fvisibility=hidden", "-I", include, "-F", str(tools.qt_include.parent / "lib"),
                str(SOURCE), "-o", str(output), "-undefined", "dynamic_lookup"]
    if tools.import_lib is None:
        raise BuildError("Windows needs --qt-include from a Qt install that has lib/*.lib")
    # Qt 6 requires /Zc:__cplusplus and /permissive- with MSVC.
    return [tools.compiler, "/nologo", "/LD", "/O2", "/EHsc", "/std:c++17", "/Zc:__cplusplus",
            "/permissive-", f"/I{include}", str(SOURCE), f"/Fe{output}", "/link",
            f"/LIBPATH:{tools.import_lib}", "Qt6Core.lib", "Qt6WebEngineCore.lib"]


def has_headers(folder: Path) -> bool:
    """The headers are in ``folder`` (Linux, Windows) or, for a macOS Qt, in the frameworks of
    the ``lib`` folder beside it."""
    frameworks = folder.parent / "lib"

    def found(header: str) -> bool:
        module, name = header.split("/")
        return ((folder / header).is_file()
                or (frameworks / f"{module}.framework" / "Headers" / name).is_file())

    return all(found(header) for header in NEEDED_HEADERS)


def system_header_dirs() -> list[Path]:
    usr = Path("/usr/include")
    return [*sorted(usr.glob("*/qt6")), usr / "qt6"]


def debian_header_cache() -> Path:
    return Path(sys.prefix) / "share" / "lockdown" / "qt6-headers"


def fetch_debian_headers(cache: Path) -> Path:
    """Unpacks the Debian Qt 6 header packages (without installing them or their dependencies)."""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise BuildError("no Qt 6 headers found and no apt-get to fetch them: pass --qt-include")
    with tempfile.TemporaryDirectory() as tmp:
        fetched = subprocess.run(["apt-get", "download", *DEBIAN_PACKAGES], cwd=tmp,
                                 capture_output=True, text=True, check=False)
        debs = sorted(Path(tmp).glob("*.deb"))
        if fetched.returncode != 0 or len(debs) != len(DEBIAN_PACKAGES):
            raise BuildError(f"apt-get download {' '.join(DEBIAN_PACKAGES)} failed: "
                             f"{fetched.stderr.strip()[-300:]}")
        unpacked = Path(tmp) / "root"
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        found = [d for d in sorted((unpacked / "usr" / "include").glob("*/qt6")) if has_headers(d)]
        if not found:
            raise BuildError(f"{' '.join(DEBIAN_PACKAGES)} hold no Qt WebEngine headers")
        if cache.exists():
            shutil.rmtree(cache)
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(found[0], cache)
    return cache


def find_headers(explicit: str | None) -> Path:
    if explicit:
        folder = Path(explicit)
        if not has_headers(folder):
            raise BuildError(f"{folder} has no {' or '.join(NEEDED_HEADERS)}")
        return folder
    for folder in [*system_header_dirs(), debian_header_cache()]:
        if has_headers(folder):
            return folder
    return fetch_debian_headers(debian_header_cache())


def pyside_qt_lib() -> Path:
    spec = find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("PySide6 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "Qt" / "lib"


def find_compiler(platform: str) -> str:
    candidates = {"linux": ("c++", "g++", "clang++"), "darwin": ("clang++", "c++"),
                  "win32": ("cl",)}[platform_key(platform)]
    for name in candidates:
        if shutil.which(name):
            return name
    raise BuildError(f"no C++ compiler ({', '.join(candidates)}) on PATH")


def up_to_date(output: Path) -> bool:
    return output.is_file() and output.stat().st_mtime >= SOURCE.stat().st_mtime


def build(qt_include: str | None, *, force: bool = False, platform: str | None = None) -> Path:
    platform = platform or sys.platform
    output = library_path(platform)
    if not force and up_to_date(output):
        return output
    include = find_headers(qt_include)
    tools = Toolchain(compiler=find_compiler(platform), qt_include=include,
                      pyside_qt_lib=pyside_qt_lib(),
                      import_lib=include.parent / "lib" if platform == "win32" else None)
    partial = output.with_name(output.name + ".part")
    result = subprocess.run(compile_command(platform, tools, partial), capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BuildError(f"the compiler failed:\n{(result.stdout + result.stderr).strip()[-2000:]}")
    os.replace(partial, output)  # never a half-written library where the app looks for one
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lockdown.ui.fastpath.build",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--qt-include", default=os.environ.get("LOCKDOWN_QT_INCLUDE"),
                        help="folder with QtCore/ and QtWebEngineCore/ headers")
    parser.add_argument("--force", action="store_true", help="build even when up to date")
    args = parser.parse_args(argv)
    try:
        print(build(args.qt_include, force=args.force))
    except (BuildError, UnsupportedPlatform, OSError, subprocess.CalledProcessError) as exc:
        print(f"lockdown.ui.fastpath.build: not built: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
