"""The Debian/Ubuntu package: the frozen app in /opt/lockdown, integrated with the desktop.

    python installers/linux/deb.py dist/lockdown --out dist      -> dist/lockdown_X.Y.Z_amd64.deb

Built with plain ``dpkg-deb`` (no debhelper): everything a maintainer script or control field
says is generated here and unit-tested. What the package installs:

======================================================  ==========================================
``/opt/lockdown/``                                      the frozen app (PyInstaller one-folder)
``/usr/bin/lockdown``                                   wrapper; adds nothing to the environment
``/usr/share/applications/lockdown.desktop``            menu entry, URL handler numbas/seb/sebs
``/usr/share/mime/packages/lockdown.xml``               ``application/seb`` for ``*.seb`` files
``/usr/share/icons/hicolor/*/apps/lockdown.*``          icons (PNG sizes + SVG)
``/etc/lockdown/policy.toml``                           machine policy, all commented (conffile)
``/usr/share/xsessions/lockdown-kiosk.desktop`` etc.    the kiosk session (installers/linux/session)
``/usr/share/lockdown/apparmor/lockdown``               AppArmor profile, enabled only where needed
======================================================  ==========================================

Ubuntu 23.10+ forbids unprivileged user namespaces to unconfined programs, and Chromium's
sandbox needs them, so ``postinst`` installs the AppArmor profile (``userns,`` for the app and its
QtWebEngineProcess) where that restriction exists, and only there: the profile needs AppArmor
ABI 4.0, which older systems (Debian 12) cannot parse.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from installers import icons, pkgmeta, policy_example  # noqa: E402 (needs ROOT on sys.path)

PACKAGE = pkgmeta.APP_NAME
INSTALL_DIR = "/opt/lockdown"
WRAPPER = "/usr/bin/lockdown"
POLICY_FILE = f"{pkgmeta.POLICY_DIR_LINUX}/policy.toml"
APPARMOR_TEMPLATE = "/usr/share/lockdown/apparmor/lockdown"
APPARMOR_PROFILE = "/etc/apparmor.d/lockdown"
SEB_MIME = "application/seb"
MIME_TYPES = (*(f"x-scheme-handler/{s}" for s in pkgmeta.URL_SCHEMES), SEB_MIME)
SESSION_DIR = ROOT / "installers" / "linux" / "session"

#: Libraries the frozen app links to but does not bundle, and the package providing each.
#: PyInstaller bundles everything else; a library missing here fails the build (a Qt update
#: that needs a new system library must be declared, not discovered on an exam PC).
LIB_PACKAGES: dict[str, str] = {
    "ld-linux-x86-64.so.2": "libc6",
    "libc.so.6": "libc6",
    "libdl.so.2": "libc6",
    "libm.so.6": "libc6",
    "libpthread.so.0": "libc6",
    "libresolv.so.2": "libc6",
    "librt.so.1": "libc6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libdrm.so.2": "libdrm2",
    "libxcb.so.1": "libxcb1",
    "libxcb-dri3.so.0": "libxcb-dri3-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libwayland-server.so.0": "libwayland-server0",
    # Only Qt's GTK platform-theme plugin uses GTK; without it Qt uses its own style.
    "libgtk-3.so.0": "libgtk-3-0",
    "libgdk-3.so.0": "libgtk-3-0",
}
#: The PySide6 6.12 wheels are manylinux_2_34; libraries PyInstaller copies from the build
#: machine may need a newer glibc, so the libc6 version is the newest GLIBC_x.y any file needs.
GLIBC_FLOOR = (2, 34)
DEPENDS = ("libc6", "libegl1", "libgl1", "libdrm2", "libxcb1", "libxcb-dri3-0",
           "libwayland-client0", "libwayland-cursor0", "libwayland-egl1", "libwayland-server0")
#: Web pages need at least one font; the kiosk session wants a small window manager.
RECOMMENDS = ("fonts-dejavu-core | fonts-freefont-ttf", "matchbox-window-manager")
SUGGESTS = ("libgtk-3-0",)

DESCRIPTION = """\
 A locked-down desktop browser for online exams: Moodle quizzes, Numbas exams
 (lockdown links from the Numbas LTI provider) and Safe Exam Browser protected
 exams (seb:// and sebs:// links, .seb files). It runs fullscreen, reaches only
 the exam's hosts, keeps a durable journal of answers, and refuses DevTools.
 .
 IT configures it for every user of the computer in /etc/lockdown/policy.toml.
 The package also installs a "Lockdown exam session" for the login screen."""


class DebError(Exception):
    """The package cannot be built; the message says what to fix."""


def desktop_entry() -> str:
    # %u: one URL (numbas://, seb://, sebs://) or one .seb file, which launchers may pass as
    # a path or a file:// URL.
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        f"Name={pkgmeta.DISPLAY_NAME}",
        "GenericName=Exam browser",
        "Comment=Take Moodle, Numbas and Safe Exam Browser exams in a locked-down browser",
        f"Exec={WRAPPER} %u",
        f"TryExec={WRAPPER}",
        f"Icon={PACKAGE}",
        "Terminal=false",
        "Categories=Education;",
        "Keywords=exam;quiz;moodle;numbas;seb;",
        "MimeType=" + "".join(f"{m};" for m in MIME_TYPES),
        "StartupNotify=true",
        f"StartupWMClass={PACKAGE}",
        "",
    ])


def mime_xml() -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">\n'
        f'  <mime-type type="{SEB_MIME}">\n'
        "    <comment>Safe Exam Browser configuration</comment>\n"
        '    <glob pattern="*.seb"/>\n'
        "  </mime-type>\n"
        "</mime-info>\n"
    )


def wrapper_script() -> str:
    return (
        "#!/bin/sh\n"
        "# The lockdown exam browser (package lockdown). The machine policy is\n"
        f"# {POLICY_FILE}; this wrapper deliberately changes nothing in the environment.\n"
        f'exec {INSTALL_DIR}/lockdown "$@"\n'
    )


def apparmor_profile() -> str:
    return (
        "# AppArmor profile of the lockdown exam browser (package lockdown).\n"
        "# Installed by postinst only where unprivileged user namespaces are restricted\n"
        "# (Ubuntu 23.10+): Chromium's sandbox needs them. It confines nothing else.\n"
        "abi <abi/4.0>,\n"
        "include <tunables/global>\n"
        "\n"
        f"profile lockdown {INSTALL_DIR}/{{lockdown,_internal/PySide6/Qt/libexec/"
        "QtWebEngineProcess} flags=(unconfined) {\n"
        "  userns,\n"
        "\n"
        "  include if exists <local/lockdown>\n"
        "}\n"
    )


_REFRESH = """\
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q /usr/share/applications || true
    fi
    if command -v update-mime-database >/dev/null 2>&1; then
        update-mime-database /usr/share/mime || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1; then
        gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
    fi"""


def postinst() -> str:
    return f"""#!/bin/sh
# postinst of lockdown: refresh the desktop, MIME and icon caches (the dpkg triggers of
# desktop-file-utils and shared-mime-info do this too where installed; doing it here keeps
# minimal images right), and enable the AppArmor profile where Chromium's sandbox needs it.
set -e
if [ "$1" = "configure" ]; then
{_REFRESH}
    if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ] \\
        && [ -e /etc/apparmor.d/abi/4.0 ]; then
        cp {APPARMOR_TEMPLATE} {APPARMOR_PROFILE}
        if command -v apparmor_parser >/dev/null 2>&1; then
            apparmor_parser -r -W {APPARMOR_PROFILE} || true
        fi
    fi
fi
exit 0
"""


def postrm() -> str:
    return f"""#!/bin/sh
# postrm of lockdown: drop the AppArmor profile postinst may have added, refresh the caches.
# Students' own data (~/.local/share/lockdown) is theirs and is never touched.
set -e
case "$1" in
    remove|purge)
        if [ -e {APPARMOR_PROFILE} ]; then
            if command -v apparmor_parser >/dev/null 2>&1; then
                apparmor_parser -R {APPARMOR_PROFILE} 2>/dev/null || true
            fi
            rm -f {APPARMOR_PROFILE}
        fi
{_REFRESH}
        ;;
esac
exit 0
"""


def depends(glibc: tuple[int, int] = GLIBC_FLOOR) -> list[str]:
    """Depends, with the glibc the app needs (see :data:`GLIBC_FLOOR`)."""
    floor = max(glibc, GLIBC_FLOOR)
    return [f"libc6 (>= {floor[0]}.{floor[1]})" if d == "libc6" else d for d in DEPENDS]


def control(version: str, arch: str, installed_kib: int,
            glibc: tuple[int, int] = GLIBC_FLOOR) -> str:
    pkgmeta.numeric_version(version)
    return "\n".join([
        f"Package: {PACKAGE}",
        f"Version: {version}",
        f"Architecture: {arch}",
        f"Maintainer: {pkgmeta.MAINTAINER}",
        f"Installed-Size: {installed_kib}",
        f"Depends: {', '.join(depends(glibc))}",
        f"Recommends: {', '.join(RECOMMENDS)}",
        f"Suggests: {', '.join(SUGGESTS)}",
        "Section: education",
        "Priority: optional",
        f"Homepage: {pkgmeta.HOMEPAGE}",
        f"Description: {pkgmeta.SUMMARY}",
        DESCRIPTION,
        "",
    ])


def copyright_file() -> str:
    return (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: {PACKAGE}\n"
        f"Source: {pkgmeta.HOMEPAGE}\n\n"
        "Files: *\n"
        f"Copyright: {pkgmeta.PUBLISHER}\n"
        f"License: {pkgmeta.LICENSE}\n"
        " On Debian systems, the full text of the GNU General Public License version 3\n"
        " can be found in /usr/share/common-licenses/GPL-3. The bundled Qt, Chromium,\n"
        " Python and libraries keep their own licences (LGPL-3, BSD and others).\n"
    )


_GLIBC = re.compile(r"\bGLIBC_(\d+)\.(\d+)\b")


def elf_needs(path: Path) -> tuple[list[str], tuple[int, int]]:
    """DT_NEEDED entries and the newest GLIBC_x.y symbol version of one file ((), (0, 0) when
    it is not ELF)."""
    with path.open("rb") as handle:
        if handle.read(4) != b"\x7fELF":
            return [], (0, 0)
    out = subprocess.run(["readelf", "-d", "-V", "-W", str(path)], capture_output=True,
                         text=True, check=False).stdout
    names = [line.rsplit("[", 1)[1].rstrip("]") for line in out.splitlines()
             if "(NEEDED)" in line and "[" in line]
    versions = [(int(a), int(b)) for a, b in _GLIBC.findall(out)]
    return names, max(versions, default=(0, 0))


def scan(app_dir: Path) -> tuple[dict[str, list[str]], tuple[int, int]]:
    """What the app needs from the system: unbundled soname -> files needing it, and the
    newest glibc symbol version any file uses."""
    if shutil.which("readelf") is None:
        raise DebError("readelf is missing (Debian package binutils)")
    bundled = {p.name for p in app_dir.rglob("*") if p.is_file() or p.is_symlink()}
    needed: dict[str, list[str]] = {}
    glibc = (0, 0)
    for path in sorted(app_dir.rglob("*")):
        if path.is_file() and not path.is_symlink():
            names, newest = elf_needs(path)
            glibc = max(glibc, newest)
            for name in names:
                if name not in bundled:
                    needed.setdefault(name, []).append(str(path.relative_to(app_dir)))
    return needed, glibc


def check_libraries(needed: dict[str, list[str]]) -> None:
    """Fail when the app needs a system library no package declaration covers."""
    unknown = {name: users for name, users in needed.items() if name not in LIB_PACKAGES}
    if unknown:
        lines = [f"  {name} (needed by {users[0]})" for name, users in sorted(unknown.items())]
        raise DebError("the frozen app needs system libraries the package does not declare;"
                       " add them to LIB_PACKAGES and DEPENDS in installers/linux/deb.py:\n"
                       + "\n".join(lines))
    declared = {d.split()[0] for d in (*DEPENDS, *SUGGESTS)}
    missing = sorted({LIB_PACKAGES[name] for name in needed} - declared)
    if missing:
        raise DebError(f"packages for needed libraries are not in Depends/Suggests: {missing}")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def stage(app_dir: Path, root: Path, version: str, arch: str,
          glibc: tuple[int, int] = GLIBC_FLOOR) -> None:
    """Lay out the package tree (files + DEBIAN/) under ``root``."""
    if not (app_dir / PACKAGE).is_file():
        raise DebError(f"{app_dir} is not a frozen build (no {PACKAGE} executable in it);"
                       " run PyInstaller on build.spec first")
    shutil.copytree(app_dir, root / INSTALL_DIR.lstrip("/"), symlinks=True)
    _write(root / WRAPPER.lstrip("/"), wrapper_script(), 0o755)
    _write(root / "usr/share/applications/lockdown.desktop", desktop_entry())
    _write(root / "usr/share/mime/packages/lockdown.xml", mime_xml())
    for size in icons.PNG_SIZES:
        target = root / f"usr/share/icons/hicolor/{size}x{size}/apps/lockdown.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(icons.png_path(size), target)
    scalable = root / "usr/share/icons/hicolor/scalable/apps/lockdown.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(icons.ICON_DIR / "lockdown.svg", scalable)
    _write(root / POLICY_FILE.lstrip("/"), policy_example.render(POLICY_FILE))
    _write(root / APPARMOR_TEMPLATE.lstrip("/"), apparmor_profile())
    _write(root / f"usr/share/doc/{PACKAGE}/copyright", copyright_file())
    subprocess.run(["sh", str(SESSION_DIR / "install.sh"), "--prefix", "/usr", "--destdir",
                    str(root)], check=True, stdout=subprocess.DEVNULL)
    for folder in (p for p in root.rglob("*") if p.is_dir()):
        folder.chmod(0o755)
    debian = root / "DEBIAN"
    debian.mkdir(mode=0o755)
    payload = [p for p in sorted(root.rglob("*")) if p.is_file() and debian not in p.parents]
    installed_kib = (sum(p.lstat().st_size for p in payload) + 1023) // 1024
    _write(debian / "control", control(version, arch, installed_kib, glibc))
    _write(debian / "conffiles", POLICY_FILE + "\n")
    _write(debian / "postinst", postinst(), 0o755)
    _write(debian / "postrm", postrm(), 0o755)
    _write(debian / "md5sums", "".join(
        f"{_md5(p)}  {p.relative_to(root)}\n" for p in payload
        if not str(p.relative_to(root)).startswith("etc/")))


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def host_arch() -> str:
    out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise DebError("cannot ask dpkg for the architecture (is this Debian/Ubuntu?)")
    return out.stdout.strip()


def deb_name(version: str, arch: str) -> str:
    return f"{PACKAGE}_{version}_{arch}.deb"


def build(app_dir: Path, out_dir: Path, version: str | None = None,
          arch: str | None = None, compression: Sequence[str] = ("-Zxz", "-z6")) -> Path:
    """Check, stage and build the package; return the .deb path."""
    for tool in ("dpkg-deb", "readelf"):
        if shutil.which(tool) is None:
            raise DebError(f"{tool} is missing (Debian packages dpkg and binutils)")
    version = version or pkgmeta.version()
    arch = arch or host_arch()
    needed, glibc = scan(app_dir)
    check_libraries(needed)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / deb_name(version, arch)
    with tempfile.TemporaryDirectory(prefix="lockdown-deb-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir(mode=0o755)
        stage(app_dir, root, version, arch, glibc)
        result = subprocess.run(["dpkg-deb", "--root-owner-group", *compression, "--build",
                                 str(root), str(target)], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise DebError(f"dpkg-deb failed: {result.stderr.strip()}")
    return target


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the lockdown .deb from a frozen build.")
    parser.add_argument("app_dir", type=Path, help="the frozen app folder (dist/lockdown)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder")
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        path = build(args.app_dir, args.out)
    except (DebError, pkgmeta.MetadataError) as exc:
        print(f"deb: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
