"""One command: the frozen app for this OS, its smoke test, then its installer, into ``dist/``.

    installers/build                  (or: python installers/build.py)
    LOCKDOWN_BUILD_DEBUG=1 installers/build    debug build (see build.spec)
    installers/build --no-installer   frozen app and smoke test only

Steps (the CI workflow runs exactly this command on each OS):

1. pack the icons (``build/icons``) and, on Windows, the version resource;
2. PyInstaller on ``build.spec`` -> ``dist/lockdown/`` (macOS: ``dist/lockdown.app``);
3. ``installers/smoke.py`` on the frozen binary, the same smoke test the e2e suite runs on the
   source (on Linux including the keyboard scenario, on an Xvfb of its own): a failing build
   stops here, before minutes of compression;
4. the installer: ``.deb`` (Linux), ``.msi`` (Windows), ``.pkg`` + ``.dmg`` (macOS);
5. ``dist/build-report.json``: sizes and durations.

As root (containers), the smoke test runs the app as ``nobody`` so the Chromium sandbox stays on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from installers import icons, pkgmeta  # noqa: E402 (needs ROOT on sys.path first)
from installers.linux.deb import DebError  # noqa: E402
from installers.macos.pkg import MacError  # noqa: E402
from installers.windows.msi import MsiError  # noqa: E402

DIST = ROOT / "dist"
BUILD = ROOT / "build"
NOBODY_UID = 65534


class BuildError(Exception):
    """A build step failed; the message names the step."""


def platform_key(platform: str = sys.platform) -> str:
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    if platform.startswith("linux"):
        return "linux"
    raise BuildError(f"no installer for platform {platform!r} (linux, windows, macos)")


def frozen_paths(key: str, dist: Path = DIST) -> tuple[Path, Path]:
    """(the folder the app was frozen into, the executable to run) for a platform."""
    if key == "macos":
        app = dist / f"{pkgmeta.APP_NAME}.app"
        return app, app / "Contents" / "MacOS" / pkgmeta.APP_NAME
    folder = dist / pkgmeta.APP_NAME
    return folder, folder / (f"{pkgmeta.APP_NAME}.exe" if key == "windows" else pkgmeta.APP_NAME)


def smoke_command(binary: Path, install_dir: Path, euid: int | None) -> list[str]:
    argv = [sys.executable, str(ROOT / "installers" / "smoke.py"), "--install-dir",
            str(install_dir)]
    if euid == 0:
        argv += ["--run-as-uid", str(NOBODY_UID)]
    return [*argv, "--", str(binary)]


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _run(step: str, argv: Sequence[str]) -> None:
    print(f"build: {step}: {' '.join(argv)}", flush=True)
    if subprocess.run(list(argv), cwd=ROOT, check=False).returncode != 0:
        raise BuildError(f"{step} failed")


def freeze(key: str) -> None:
    icons.write_platform_icons(BUILD / "icons")
    if key == "windows":
        from installers.windows import msi

        (BUILD / "windows-version.txt").write_text(msi.version_resource(pkgmeta.version()),
                                                  encoding="utf-8")
    _run("pyinstaller", [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
                         "--workpath", str(BUILD / "pyinstaller"), "--distpath", str(DIST),
                         str(ROOT / "build.spec")])


def package(key: str, frozen: Path) -> list[Path]:
    if key == "linux":
        from installers.linux import deb

        return [deb.build(frozen, DIST)]
    if key == "windows":
        from installers.windows import msi

        return [msi.build(frozen, BUILD / "windows", DIST, BUILD / "icons" / "lockdown.ico")]
    from installers.macos import pkg

    return pkg.build(frozen, BUILD / "macos", DIST)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-installer", action="store_true", help="stop after the smoke test")
    args = parser.parse_args(argv)
    timings: dict[str, float] = {}
    try:
        key = platform_key()
        frozen, binary = frozen_paths(key)
        started = time.monotonic()
        freeze(key)
        timings["freeze_s"] = time.monotonic() - started
        started = time.monotonic()
        euid = os.geteuid() if hasattr(os, "geteuid") else None
        _run("smoke test", smoke_command(binary, frozen, euid))
        timings["smoke_s"] = time.monotonic() - started
        installers: list[Path] = []
        if not args.no_installer:
            started = time.monotonic()
            installers = package(key, frozen)
            timings["installer_s"] = time.monotonic() - started
    except (BuildError, DebError, MsiError, MacError, icons.IconError, pkgmeta.MetadataError,
            OSError, subprocess.SubprocessError) as exc:
        print(f"build: FAILED: {exc}", file=sys.stderr)
        return 1
    report = {
        "version": pkgmeta.version(),
        "platform": key,
        "debug": os.environ.get("LOCKDOWN_BUILD_DEBUG") == "1",
        "frozen": str(frozen.relative_to(ROOT)),
        "frozen_bytes": folder_bytes(frozen),
        "installers": {p.name: p.stat().st_size for p in installers},
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }
    (DIST / "build-report.json").write_text(json.dumps(report, indent=2) + "\n",
                                            encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
