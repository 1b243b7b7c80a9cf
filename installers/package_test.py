"""Install the .deb with dpkg, smoke-test the installed app, remove and purge it, check it is gone.

    sudo installers/package-test                 build everything first (installers/build)
    sudo installers/package-test --deb FILE      test an existing package

A separate target, not part of the default test run: it takes minutes (the build compresses
~400 MB) and it changes the machine (it installs into /opt, /usr and /etc), so it needs root and
must not run while lockdown is installed from elsewhere. CI runs it after ``installers/build``.

Checks, in order: maintainer scripts parse (``sh -n``), desktop files validate
(``desktop-file-validate`` when installed), ``dpkg -i`` succeeds, ``dpkg --verify`` is clean, the
conffile is registered, URL schemes and ``.seb`` are in the desktop/MIME caches, the wrapper
runs, the installed app passes ``installers/smoke.py`` (as ``nobody`` with the Chromium sandbox
on when run as root), ``dpkg --remove`` leaves only the conffile, ``dpkg --purge`` leaves
nothing of the package behind and the caches forget it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from installers import pkgmeta  # noqa: E402 (needs ROOT on sys.path first)
from installers.linux import deb  # noqa: E402

MIMEINFO = Path("/usr/share/applications/mimeinfo.cache")
SEB_MIME_FILE = Path("/usr/share/mime/application/seb.xml")


class PackageTestError(Exception):
    """A check failed; the message shows the evidence."""


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 600) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                            check=False)
    if check and result.returncode != 0:
        raise PackageTestError(f"{' '.join(argv)} failed ({result.returncode}):\n"
                               f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


def installed(package: str = deb.PACKAGE) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True,
                         text=True, check=False)
    return out.returncode == 0 and "installed" in out.stdout.split()


def payload_paths(deb_file: Path) -> list[Path]:
    """Absolute paths of the regular files and symlinks the package ships."""
    paths = []
    for line in run(["dpkg-deb", "-c", str(deb_file)]).splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and not fields[0].startswith("d"):
            name = fields[5].split(" -> ")[0]
            paths.append(Path("/") / name.lstrip("./"))
    return paths


def missing_dependencies(deb_file: Path) -> list[str]:
    """Depends alternatives not installed (first alternative of each, version ignored)."""
    depends = run(["dpkg-deb", "-f", str(deb_file), "Depends"]).strip()
    missing = []
    for item in filter(None, (d.strip() for d in depends.split(","))):
        alternatives = [a.split()[0] for a in item.split("|")]
        if not any(installed(name) for name in alternatives):
            missing.append(alternatives[0])
    return missing


@contextlib.contextmanager
def step(name: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.monotonic()
    print(f"package-test: {name} ...", flush=True)
    yield
    timings[name] = time.monotonic() - started
    print(f"package-test: {name}: ok ({timings[name]:.1f} s)", flush=True)


def static_checks(deb_file: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run(["dpkg-deb", "-R", str(deb_file), tmp])
        for script in ("postinst", "postrm"):
            run(["sh", "-n", str(Path(tmp) / "DEBIAN" / script)])
        if shutil.which("desktop-file-validate"):
            # Only the menu entry: session entries carry display-manager keys (DesktopNames)
            # that desktop-file-validate does not know.
            entry = "usr/share/applications/lockdown.desktop"
            out = run(["desktop-file-validate", str(Path(tmp) / entry)])
            if out.strip():
                raise PackageTestError(f"{entry}: {out.strip()}")
        else:
            print("package-test: note: desktop-file-validate not installed, desktop files"
                  " not validated (apt-get install desktop-file-utils)")


def check_installed(files: Sequence[Path]) -> None:
    absent = [str(p) for p in files if not (p.exists() or p.is_symlink())]
    if absent:
        raise PackageTestError(f"installed package lacks files: {absent[:10]}")
    run(["dpkg", "--verify", deb.PACKAGE])
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", deb.PACKAGE])
    if deb.POLICY_FILE not in conffiles:
        raise PackageTestError(f"{deb.POLICY_FILE} is not a conffile: {conffiles!r}")
    if shutil.which("update-desktop-database"):
        cache = MIMEINFO.read_text(encoding="utf-8") if MIMEINFO.exists() else ""
        for mime in deb.MIME_TYPES:
            if f"{mime}=" not in cache or "lockdown.desktop" not in cache.split(f"{mime}=")[1]\
                    .splitlines()[0]:
                raise PackageTestError(f"{MIMEINFO} does not map {mime} to lockdown.desktop")
    if shutil.which("update-mime-database") and not SEB_MIME_FILE.exists():
        raise PackageTestError(f"update-mime-database did not register {deb.SEB_MIME}")
    version = run([deb.WRAPPER, "--version"], timeout=60).strip()
    if version != f"lockdown {pkgmeta.version()}":
        raise PackageTestError(f"{deb.WRAPPER} --version says {version!r}")


def smoke_installed() -> None:
    argv = [sys.executable, str(ROOT / "installers" / "smoke.py"), "--install-dir",
            deb.INSTALL_DIR]
    if os.geteuid() == 0:
        argv += ["--run-as-uid", str(pwd.getpwnam("nobody").pw_uid)]
    argv += ["--", deb.WRAPPER]
    result = subprocess.run(argv, text=True, check=False, timeout=600)
    if result.returncode != 0:
        raise PackageTestError("the installed app failed the smoke test (see above)")


def check_removed(files: Sequence[Path], purged: bool) -> None:
    left = [str(p) for p in files if (p.exists() or p.is_symlink())
            and (purged or str(p) != deb.POLICY_FILE)]
    if left:
        raise PackageTestError(f"files left after {'purge' if purged else 'remove'}: {left[:10]}")
    policy = Path(deb.POLICY_FILE)
    if not purged and not policy.exists():
        raise PackageTestError("dpkg --remove deleted the conffile (only --purge may)")
    if purged:
        for folder in (Path(deb.INSTALL_DIR), policy.parent, Path(deb.APPARMOR_PROFILE)):
            if folder.exists():
                raise PackageTestError(f"{folder} is still there after purge")
        if MIMEINFO.exists() and "lockdown.desktop" in MIMEINFO.read_text(encoding="utf-8"):
            raise PackageTestError(f"{MIMEINFO} still mentions lockdown.desktop")


def package_test(deb_file: Path) -> dict[str, float]:
    if os.geteuid() != 0:
        raise PackageTestError("run as root (sudo): dpkg installs into /opt, /usr and /etc")
    if installed() or Path(deb.WRAPPER).exists() or Path(deb.INSTALL_DIR).exists():
        raise PackageTestError("lockdown is already installed here; remove it first"
                               " (dpkg --purge lockdown), this test must start from nothing")
    timings: dict[str, float] = {}
    files = payload_paths(deb_file)
    with step("static checks", timings):
        static_checks(deb_file)
    missing = missing_dependencies(deb_file)
    if missing:
        with step(f"apt-get install {' '.join(missing)} (dependencies)", timings):
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                            *missing], check=True, env=env, stdout=subprocess.DEVNULL)
    try:
        with step("dpkg -i", timings):
            run(["dpkg", "-i", str(deb_file)])
        with step("installed files, conffile, caches, --version", timings):
            check_installed(files)
        with step("smoke test of the installed app", timings):
            smoke_installed()
        with step("dpkg --remove", timings):
            run(["dpkg", "--remove", deb.PACKAGE])
            check_removed(files, purged=False)
        with step("dpkg --purge", timings):
            run(["dpkg", "--purge", deb.PACKAGE])
            check_removed(files, purged=True)
    finally:
        if installed() or Path(deb.POLICY_FILE).exists():
            subprocess.run(["dpkg", "--purge", deb.PACKAGE], check=False,
                           stdout=subprocess.DEVNULL)
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install/smoke/remove test of the .deb.")
    parser.add_argument("--deb", type=Path, help="test this package (default: build it first)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        deb_file = args.deb
        if deb_file is None:
            build = subprocess.run([sys.executable, str(ROOT / "installers" / "build.py")],
                                   check=False)
            if build.returncode != 0:
                raise PackageTestError("installers/build failed")
            deb_file = ROOT / "dist" / deb.deb_name(pkgmeta.version(), deb.host_arch())
        if not deb_file.is_file():
            raise PackageTestError(f"no package at {deb_file}")
        package_test(deb_file)
    except (PackageTestError, deb.DebError, subprocess.SubprocessError) as exc:
        print(f"package-test: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"package-test: passed in {time.monotonic() - started:.0f} s ({deb_file})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
