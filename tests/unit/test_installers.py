"""The pure parts of packaging: metadata, generated installer files, pruning, icons, the smoke
harness. Nothing here freezes the app or installs anything (that is ``installers/package-test``).
"""

from __future__ import annotations

import ast
import configparser
import plistlib
import re
import runpy
import shutil
import ssl
import subprocess
import sys
import tomllib
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import lockdown
from installers import (
    build,
    icons,
    pkgmeta,
    policy_example,
    prune,
    smoke,
    smoke_keyboard,
    smoke_process,
)
from installers.frozen import entry
from installers.linux import deb
from installers.macos import pkg, plist
from installers.tls_site import PAGE, UntrustedTlsSite
from installers.windows import msi
from lockdown.policy.config import validate
from lockdown.policy.settings import declared_settings
from lockdown.sanitize import DANGEROUS_ENV
from lockdown.ui import fastpath

ROOT = Path(__file__).resolve().parents[2]
WIX = "{http://wixtoolset.org/schemas/v4/wxs}"


# -- metadata -------------------------------------------------------------------------------------
def test_identifiers_never_change() -> None:
    # Changing either orphans every installed copy (MSI installs side by side, Jamf sees a new app)
    assert pkgmeta.UPGRADE_CODE == "6AA0A56D-6B1E-4C29-9F46-48B81E9E9A2D"
    assert str(uuid.UUID(pkgmeta.UPGRADE_CODE)).upper() == pkgmeta.UPGRADE_CODE
    assert pkgmeta.BUNDLE_ID == "org.lockdown-exam.lockdown"
    assert pkgmeta.version() == lockdown.__version__


@pytest.mark.parametrize("bad", ["1.2", "1.2.3rc1", "v1.2.3", "256.0.0", "1.2.70000"])
def test_bad_versions_are_refused(bad: str) -> None:
    with pytest.raises(pkgmeta.MetadataError, match=re.escape(repr(bad))):
        pkgmeta.numeric_version(bad)


def test_unreadable_pyproject_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "pyproject.toml"
    broken.write_text("[project\n", encoding="utf-8")
    with pytest.raises(pkgmeta.MetadataError, match="cannot read the version from"):
        pkgmeta.version(broken)
    broken.write_text("[project]\nname = 'x'\n", encoding="utf-8")
    with pytest.raises(pkgmeta.MetadataError, match=r"no \[project\] version"):
        pkgmeta.version(broken)


# -- Windows --------------------------------------------------------------------------------------
def _wxs() -> ET.Element:
    return ET.parse(msi.WXS).getroot()


def test_msi_is_per_machine_with_the_stable_upgrade_code() -> None:
    package = _wxs().find(f"{WIX}Package")
    assert package is not None
    assert package.get("UpgradeCode") == pkgmeta.UPGRADE_CODE
    assert package.get("Scope") == "perMachine"
    assert package.get("Version") == "$(var.Version)"  # the only thing that varies per build
    assert package.find(f"{WIX}MajorUpgrade") is not None
    guids = [c.get("Guid") for c in package.iter(f"{WIX}Component") if c.get("Guid")]
    assert len(guids) == len(set(guids)) == 3
    assert all(str(uuid.UUID(g)).upper() == g for g in guids if g)


def test_msi_registers_every_url_scheme_in_hklm() -> None:
    keys = {k.get("Key"): k for k in _wxs().iter(f"{WIX}RegistryKey")}
    for scheme in pkgmeta.URL_SCHEMES:
        key = keys[f"Software\\Classes\\{scheme}"]
        assert key.get("Root") == "HKLM"
        values = {v.get("Key") or v.get("Name") or "": v.get("Value") for v in key}
        assert values["URL Protocol"] == ""
        assert values["shell\\open\\command"] == f'"[#{msi.EXE_ID}]" "%1"'


def _aces(sddl: str) -> dict[str, str]:
    return {ace.split(";")[5]: ace.split(";")[2] for ace in re.findall(r"\(([^)]*)\)", sddl)}


def test_msi_policy_folder_is_writable_by_admins_only() -> None:
    folder = next(d for d in _wxs().iter(f"{WIX}Directory") if d.get("Id") == "POLICYFOLDER")
    assert folder.get("Name") == "lockdown"
    permission = folder.find(f".//{WIX}PermissionEx")
    assert permission is not None
    sddl = permission.get("Sddl", "")
    assert "D:PAI" in sddl  # protected: %ProgramData%'s "Users may create files" not inherited
    aces = _aces(sddl)
    assert aces == {"SY": "FA", "BA": "FA", "BU": "0x1200a9"}  # Users: read and execute only
    files = [f.get("Name") for f in folder.iter(f"{WIX}File")]
    assert files == ["policy.toml.example"]


def _fake_windows_app(root: Path) -> Path:
    app = root / "lockdown"
    for rel in ("lockdown.exe", "_internal/python311.dll", "_internal/PySide6/Qt6Core.dll",
                "_internal/PySide6/translations/qtwebengine_locales/en-US.pak"):
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_bytes(b"x")
    return app


def test_msi_fragment_lists_every_file_once_with_stable_ids(tmp_path: Path) -> None:
    app = _fake_windows_app(tmp_path)
    text = msi.fragment(app)
    assert msi.fragment(app) == text
    root = ET.fromstring(text)
    files = list(root.iter(f"{WIX}File"))
    sources = sorted(f.get("Source", "") for f in files)
    assert sources == sorted("$(var.SourceDir)\\" + str(p.relative_to(app)).replace("/", "\\")
                             for p in app.rglob("*") if p.is_file())
    ids = [e.get("Id", "") for e in root.iter() if e.get("Id")]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,71}", i) for i in ids)
    exe = next(f for f in files if f.get("Source", "").endswith("\\lockdown.exe"))
    assert exe.get("Id") == msi.EXE_ID
    group = root.find(f".//{WIX}ComponentGroup")
    assert group is not None and group.get("Id") == "AppFiles"
    names = [d.get("Name") for d in root.iter(f"{WIX}Directory")]
    assert names == ["_internal", "PySide6", "translations", "qtwebengine_locales"]
    # Adding a file leaves every existing id alone (upgrades keep component identities).
    (app / "_internal" / "new.dll").write_bytes(b"y")
    assert set(ids) <= {e.get("Id") for e in ET.fromstring(msi.fragment(app)).iter()}


def test_msi_fragment_refuses_a_non_windows_build(tmp_path: Path) -> None:
    (tmp_path / "lockdown").write_bytes(b"elf")
    with pytest.raises(msi.MsiError, match=re.escape("no lockdown.exe")):
        msi.fragment(tmp_path)


def test_main_wxs_and_fragment_agree_on_names() -> None:
    text = msi.WXS.read_text(encoding="utf-8")
    assert '<ComponentGroupRef Id="AppFiles" />' in text
    assert f"[#{msi.EXE_ID}]" in text
    for var in re.findall(r"\$\(var\.(\w+)\)", text):
        assert f"{var}=" in " ".join(msi.wix_command(Path("a"), Path("w"), Path("o"), "1.2.3",
                                                     Path("i.ico")))

    text = msi.version_resource("1.2.3")
    call = ast.parse(text, mode="eval").body
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
    assert call.func.id == "VSVersionInfo"
    assert "filevers=(1, 2, 3, 0)" in text and "StringStruct('ProductVersion', '1.2.3')" in text
    with pytest.raises(pkgmeta.MetadataError):
        msi.version_resource("1.2")


# -- macOS ----------------------------------------------------------------------------------------
def test_info_plist_declares_url_types_and_identity() -> None:
    info = plistlib.loads(plistlib.dumps(plist.info_plist("1.2.3")))
    schemes = [s for t in info["CFBundleURLTypes"] for s in t["CFBundleURLSchemes"]]
    assert sorted(schemes) == sorted(pkgmeta.URL_SCHEMES)
    assert info["CFBundleIdentifier"] == pkgmeta.BUNDLE_ID
    assert info["CFBundleShortVersionString"] == info["CFBundleVersion"] == "1.2.3"
    seb = info["UTImportedTypeDeclarations"][0]
    assert seb["UTTypeTagSpecification"]["public.filename-extension"] == ["seb"]
    with pytest.raises(pkgmeta.MetadataError):
        plist.info_plist("1.2")


def test_entitlements_allow_jit_and_nothing_that_lets_others_steer_the_app() -> None:
    committed = (ROOT / "installers" / "macos" / "entitlements.plist").read_bytes()
    assert committed == plist.entitlements_xml()  # regenerate with plist.entitlements_xml()
    entitlements = plistlib.loads(committed)
    assert entitlements["com.apple.security.cs.allow-jit"] is True
    assert not set(entitlements) & set(plist.FORBIDDEN_ENTITLEMENTS)


def test_mac_commands_sign_only_with_identities_and_redact_secrets(tmp_path: Path) -> None:
    app, out = tmp_path / "lockdown.app", tmp_path / "x.pkg"
    unsigned = pkg.pkg_commands(app, tmp_path, out, "1.2.3", None)
    assert "--sign" not in unsigned[1]
    assert unsigned[0][:2] == ["pkgbuild", "--component"] and "/Applications" in unsigned[0]
    signed = pkg.pkg_commands(app, tmp_path, out, "1.2.3", "Developer ID Installer: X")
    assert signed[1][signed[1].index("--sign") + 1] == "Developer ID Installer: X"
    dmg = pkg.dmg_commands(app, tmp_path, tmp_path / "x.dmg", "Developer ID Application: X")
    assert dmg[-1][:2] == ["codesign", "--sign"] and any(c[0] == "hdiutil" for c in dmg)
    assert pkg.notary_credentials({}) is None
    assert pkg.notary_credentials({"LOCKDOWN_NOTARY_PROFILE": "p"}) == ["--keychain-profile", "p"]
    env = {"APPLE_ID": "a@b", "APPLE_TEAM_ID": "T", "APPLE_APP_PASSWORD": "s3cret"}
    line = pkg.redact(pkg.notarise_commands(out, pkg.notary_credentials(env) or [])[0], env)
    assert "s3cret" not in line and "--password ***" in line
    script = pkg.postinstall_script()
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    assert f'chown root:wheel "{pkgmeta.POLICY_DIR_MACOS}"' in script
    assert "policy.toml.example" in script and "lsregister" in script


# -- build.spec, executed with stand-ins for PyInstaller ------------------------------------------
class _Recorder:
    calls: list[tuple[str, dict[str, Any]]]

    def __init__(self, returncode: int = 0) -> None:
        self.calls = []
        self.returncode = returncode  # of every subprocess.run

    def make(self, name: str) -> Callable[..., SimpleNamespace]:
        def build_step(*args: Any, **kwargs: Any) -> SimpleNamespace:
            self.calls.append((name, {"_args": args, **kwargs}))
            return SimpleNamespace(args=args, returncode=self.returncode, pure=[], scripts=[],
                                   binaries=[], datas=[
                ("PySide6/Qt/translations/qtwebengine_locales/de.pak", "src", "DATA"),
                ("PySide6/Qt/translations/qtwebengine_locales/en-US.pak", "src", "DATA"),
            ])

        return build_step

    def of(self, name: str) -> dict[str, Any]:
        return next(kwargs for step, kwargs in self.calls if step == name)


def _exec_spec(monkeypatch: pytest.MonkeyPatch, platform: str, debug: bool,
               returncode: int = 0) -> tuple[_Recorder, dict[str, Any]]:
    recorder = _Recorder(returncode)
    for module, names in (("PyInstaller.building.api", ("COLLECT", "EXE", "PYZ")),
                          ("PyInstaller.building.build_main", ("Analysis",)),
                          ("PyInstaller.building.osx", ("BUNDLE",))):
        fake = ModuleType(module)
        for name in names:
            setattr(fake, name, recorder.make(name))
        monkeypatch.setitem(sys.modules, module, fake)
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("LOCKDOWN_BUILD_DEBUG", "1" if debug else "0")
    monkeypatch.setattr(subprocess, "run", recorder.make("subprocess.run"))  # build-time steps
    namespace: dict[str, Any] = {"SPECPATH": str(ROOT)}
    exec(compile((ROOT / "build.spec").read_text(encoding="utf-8"), "build.spec", "exec"),
         namespace)
    return recorder, namespace


def test_spec_release_and_debug_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder, namespace = _exec_spec(monkeypatch, "linux", debug=False)
    analysis = recorder.of("Analysis")
    assert analysis["runtime_hooks"] == [str(ROOT / "installers/frozen/rthook_user_env.py"),
                                         str(ROOT / "installers/frozen/rthook_fast_start.py")]
    assert (str(ROOT / "resources"), "resources") in analysis["datas"]
    # PySide6's support code is recorded by the build's Python, and shipped beside its reader.
    assert recorder.calls[0][0] == "subprocess.run"
    assert recorder.calls[0][1]["_args"] == (
        [sys.executable, "-m", "lockdown.startup.code_cache"],)
    assert recorder.calls[0][1]["cwd"] == ROOT
    cache = ROOT / "lockdown" / "startup" / "pyside-support.codecache"
    assert (str(cache), "lockdown/startup") in analysis["datas"]
    # The interceptor's fast path is built next and shipped where lockdown.ui.fastpath looks.
    assert recorder.calls[1][1]["_args"] == (
        [sys.executable, "-m", "lockdown.ui.fastpath.build"],)
    assert analysis["binaries"] == [(str(fastpath.library_path("linux")), "lockdown/ui/fastpath")]
    assert [d[0] for d in namespace["a"].datas] == [
        "PySide6/Qt/translations/qtwebengine_locales/en-US.pak"]
    exe = recorder.of("EXE")
    assert exe["name"] == "lockdown" and exe["exclude_binaries"] is True  # one-folder
    assert exe["debug"] is False and exe["upx"] is False and exe["console"] is True
    assert not any(step == "BUNDLE" for step, _ in recorder.calls)
    recorder, namespace = _exec_spec(monkeypatch, "linux", debug=True)
    assert len(namespace["a"].datas) == 2  # the debug build keeps every locale
    assert recorder.of("EXE")["debug"] is True and recorder.of("EXE")["strip"] is False


def test_spec_builds_on_without_the_fast_path(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    recorder, _ = _exec_spec(monkeypatch, "linux", debug=False, returncode=1)
    assert recorder.of("Analysis")["binaries"] == []
    assert "without the interceptor's C++ fast path" in capsys.readouterr().err


def test_spec_macos_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKDOWN_MACOS_SIGN_IDENTITY", "Developer ID Application: X")
    recorder, _ = _exec_spec(monkeypatch, "darwin", debug=False)
    bundle = recorder.of("BUNDLE")
    assert bundle["bundle_identifier"] == pkgmeta.BUNDLE_ID
    assert bundle["info_plist"]["CFBundleURLTypes"] == plist.info_plist(
        pkgmeta.version())["CFBundleURLTypes"]
    assert bundle["entitlements_file"].endswith("entitlements.plist")
    assert recorder.of("EXE")["codesign_identity"] == "Developer ID Application: X"
    assert recorder.of("Analysis")["binaries"] == [
        (str(fastpath.library_path("darwin")), "lockdown/ui/fastpath")]


# -- pruning, frozen entry ------------------------------------------------------------------------
@pytest.mark.parametrize(("dest", "kept"), [
    ("PySide6/Qt/translations/qtwebengine_locales/en-US.pak", True),
    ("PySide6/Qt/translations/qtwebengine_locales/de.pak", False),
    ("PySide6/Qt/lib/QtWebEngineCore.framework/Resources/qtwebengine_locales/fr.pak", False),
    ("PySide6\\Qt\\translations\\qtwebengine_locales\\en-US.pak", True),
    ("PySide6/Qt/resources/qtwebengine_devtools_resources.pak", False),
    ("PySide6/Qt/resources/qtwebengine_resources.pak", True),
    ("PySide6/Qt/translations/qtbase_en.qm", True),
    ("PySide6/Qt/translations/qt_help_pt_BR.qm", False),
    ("PySide6/Qt/translations/qtbase_de.qm", False),
    ("resources/pages/blocked.html", True),
    ("resources/__pycache__/x.cpython-311.pyc", False),
])
def test_prune_rules(dest: str, kept: bool) -> None:
    assert prune.keep_data(dest, pkgmeta.SHIPPED_LOCALES) is kept
    assert [prune.qt_language(x) for x in ("en-US", "pt-BR", "de")] == ["en", "pt_BR", "de"]



def test_frozen_build_restores_the_users_qt_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # The run-time hook records the user's values before PyInstaller's Qt hook overwrites them.
    monkeypatch.setenv("QT_PLUGIN_PATH", "/evil")
    monkeypatch.delenv("QML2_IMPORT_PATH", raising=False)
    monkeypatch.setattr(sys, "_lockdown_user_env", None, raising=False)
    runpy.run_path(str(ROOT / "installers" / "frozen" / "rthook_user_env.py"))
    recorded = sys._lockdown_user_env  # type: ignore[attr-defined]
    assert recorded == {"QT_PLUGIN_PATH": "/evil", "QML2_IMPORT_PATH": None}
    env = {"QT_PLUGIN_PATH": "/bundle/plugins", "QML2_IMPORT_PATH": "/bundle/qml"}
    entry.restore_user_env(recorded, env)
    assert env == {"QT_PLUGIN_PATH": "/evil"}  # the app then removes and logs /evil


# -- icons ----------------------------------------------------------------------------------------
def test_committed_icons_are_current_and_well_formed() -> None:
    assert (icons.ICON_DIR / "lockdown.svg").read_text(encoding="utf-8") == icons.svg()
    assert ET.fromstring(icons.svg()).get("viewBox") == "0 0 256 256"
    for size in icons.PNG_SIZES:
        assert icons.png_size(icons.png_path(size).read_bytes()) == (size, size)
    for size in (16, 32):  # regenerated here: the geometry and the committed files agree
        rendered = icons.encode_png(size, icons.render_rgba(size, 4))
        assert icons.png_path(size).read_bytes() == rendered


def test_ico_and_icns_hold_the_pngs() -> None:
    pngs = icons.load_pngs(icons.ICO_SIZES)
    ico = icons.pack_ico(pngs)
    assert ico[:6] == b"\0\0\1\0" + bytes([len(pngs), 0])
    for index, size in enumerate(sorted(pngs)):
        entry_bytes = ico[6 + 16 * index: 6 + 16 * (index + 1)]
        assert entry_bytes[0] == (0 if size == 256 else size)
        offset = int.from_bytes(entry_bytes[12:16], "little")
        assert ico[offset:offset + len(pngs[size])] == pngs[size]
    icns = icons.pack_icns(icons.load_pngs(tuple(icons.ICNS_TYPES)))
    assert icns[:4] == b"icns" and int.from_bytes(icns[4:8], "big") == len(icns)
    assert all(kind in icns for kind in icons.ICNS_TYPES.values())


def test_icon_errors_are_explained(tmp_path: Path) -> None:
    png512 = icons.png_path(512).read_bytes()
    with pytest.raises(icons.IconError, match="at most 256"):
        icons.pack_ico({512: png512})
    with pytest.raises(icons.IconError, match="the 16 px image is"):
        icons.pack_icns({16: png512})
    with pytest.raises(icons.IconError, match="do not make a 2x2"):
        icons.encode_png(2, b"\0" * 3)
    with pytest.raises(icons.IconError, match="--resources"):
        icons.load_pngs((16,), tmp_path)
    with pytest.raises(icons.IconError, match="not a PNG"):
        icons.png_size(b"GIF89a")


# -- the policy example ---------------------------------------------------------------------------
def test_policy_example_uncommented_is_the_defaults() -> None:
    text = policy_example.render("/etc/lockdown/policy.toml")
    assert text.startswith("# Machine policy of the lockdown exam browser: /etc/lockdown/")
    assert tomllib.loads(text) == {}  # as shipped, every setting is commented out
    settings = [line[1:] for line in text.splitlines() if re.match(r"#[a-z0-9_]+ = ", line)]
    values = validate(tomllib.loads("\n".join(settings)), "example")
    declared = {info.name: info.default for info in declared_settings()}
    assert values == declared

    with pytest.raises(policy_example.ExampleError, match="dict"):
        policy_example.toml_value({"a": 1})


# -- Linux package --------------------------------------------------------------------------------
def test_desktop_entry_handles_the_schemes_and_seb_files() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(deb.desktop_entry())
    desktop = parser["Desktop Entry"]
    assert desktop["Exec"] == "/usr/bin/lockdown %u"
    assert desktop["MimeType"].split(";")[:-1] == [
        "x-scheme-handler/numbas", "x-scheme-handler/seb", "x-scheme-handler/sebs",
        "application/seb"]
    mime = ET.fromstring(deb.mime_xml())
    ns = "{http://www.freedesktop.org/standards/shared-mime-info}"
    kind = mime.find(f"{ns}mime-type")
    assert kind is not None and kind.get("type") == "application/seb"
    glob = kind.find(f"{ns}glob")
    assert glob is not None and glob.get("pattern") == "*.seb"


def test_maintainer_scripts_and_wrapper() -> None:
    for script in (deb.postinst(), deb.postrm(), deb.wrapper_script()):
        subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    wrapper = deb.wrapper_script()
    assert wrapper.splitlines()[-1] == 'exec /opt/lockdown/lockdown "$@"'
    assert "=" not in wrapper.replace('"$@"', "")  # sets nothing: no sandbox switch, no env
    post = deb.postinst()
    assert "apparmor_restrict_unprivileged_userns" in post and "abi/4.0" in post
    assert "rm -f /etc/apparmor.d/lockdown" in deb.postrm()
    profile = deb.apparmor_profile()
    assert "userns," in profile and "QtWebEngineProcess" in profile


def test_control_file() -> None:
    text = deb.control("1.2.3", "amd64", 4242)
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line
                  and not line.startswith(" "))
    assert fields["Package"] == "lockdown" and fields["Version"] == "1.2.3"
    assert fields["Installed-Size"] == "4242" and fields["Architecture"] == "amd64"
    assert fields["Depends"].startswith("libc6 (>= 2.34)")
    assert deb.control("1.2.3", "amd64", 1, (2, 36)).count("libc6 (>= 2.36), libegl1") == 1
    description = text.split("Description: ", 1)[1].splitlines()[1:]
    assert description and all(line.startswith(" ") for line in description if line)
    with pytest.raises(pkgmeta.MetadataError):
        deb.control("1.2", "amd64", 1)


def test_every_unbundled_library_must_be_declared() -> None:
    deb.check_libraries({"libc.so.6": ["lockdown"], "libGL.so.1": ["x"]})
    with pytest.raises(deb.DebError, match=re.escape("libfancy.so.1 (needed by _internal/a")):
        deb.check_libraries({"libfancy.so.1": ["_internal/a.so"]})
    declared = {d.split()[0] for d in (*deb.DEPENDS, *deb.SUGGESTS)}
    assert set(deb.LIB_PACKAGES.values()) <= declared


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs binutils (Linux)")
def test_scan_reads_elf_needs_and_glibc_versions(tmp_path: Path) -> None:
    shutil.copy("/bin/true", tmp_path / "true")
    (tmp_path / "notes.txt").write_text("not ELF", encoding="utf-8")
    needed, glibc = deb.scan(tmp_path)
    assert needed == {"libc.so.6": ["true"]} and (2, 2) <= glibc < (3, 0)
    (tmp_path / "libc.so.6").write_bytes(b"bundled copy")
    assert deb.scan(tmp_path) == ({}, glibc)


def _fake_linux_app(root: Path) -> Path:
    (root / "app" / "_internal").mkdir(parents=True)
    (root / "app" / "lockdown").write_text("#!/bin/sh\n", encoding="utf-8")
    (root / "app" / "_internal" / "data.bin").write_bytes(b"d" * 3000)
    return root / "app"


def test_stage_lays_out_the_package(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    deb.stage(_fake_linux_app(tmp_path), root, "1.2.3", "amd64")
    assert (root / "usr/bin/lockdown").stat().st_mode & 0o777 == 0o755
    assert (root / "opt/lockdown/_internal/data.bin").stat().st_size == 3000
    policy = root / "etc/lockdown/policy.toml"
    assert policy.read_text(encoding="utf-8") == policy_example.render(deb.POLICY_FILE)
    assert (root / "DEBIAN/conffiles").read_text(encoding="utf-8") == deb.POLICY_FILE + "\n"
    assert all((root / f"usr/share/icons/hicolor/{n}x{n}/apps/lockdown.png").is_file()
               for n in icons.PNG_SIZES)
    assert (root / "usr/share/xsessions/lockdown-kiosk.desktop").is_file()  # the kiosk session
    assert (root / "usr/lib/lockdown/lockdown-kiosk-session").stat().st_mode & 0o111
    md5sums = (root / "DEBIAN/md5sums").read_text(encoding="utf-8")
    assert "opt/lockdown/_internal/data.bin" in md5sums and "etc/lockdown" not in md5sums
    control = (root / "DEBIAN/control").read_text(encoding="utf-8")
    assert re.search(r"Installed-Size: ([3-9]|\d\d+)\n", control)

    with pytest.raises(deb.DebError, match="not a frozen build"):
        deb.stage(tmp_path, tmp_path / "root", "1.2.3", "amd64")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian/Ubuntu)")
def test_build_produces_an_installable_looking_deb(tmp_path: Path) -> None:
    path = deb.build(_fake_linux_app(tmp_path), tmp_path / "out", "1.2.3", "amd64",
                     compression=("-Zgzip", "-z1"))
    assert path.name == "lockdown_1.2.3_amd64.deb"
    info, listing = (subprocess.run(["dpkg-deb", *args, str(path)], text=True, check=True,
                                    capture_output=True).stdout for args in (["-I"], ["-c"]))
    assert "Package: lockdown\n Version: 1.2.3\n" in info
    assert "root/root" in listing and "./usr/share/applications/lockdown.desktop" in listing


# -- the smoke harness ----------------------------------------------------------------------------
def test_noise_allow_list_and_install_folder_snapshot(tmp_path: Path) -> None:
    chromium = ("[1:2:1122/175215.150866:ERROR:../../../qtwebengine/src/3rdparty/chromium/dbus/"
                "bus.cc:408] Failed to connect to the bus: Failed to connect to socket x")
    known = ["QVulkanInstance: Failed to initialize Vulkan", chromium, ""]
    assert smoke_process.unexpected_lines(known) == []
    assert smoke_process.unexpected_lines(["Sandboxing disabled by user."]) == [
        "Sandboxing disabled by user."]
    assert smoke_process.unexpected_lines(["Sandboxing disabled by user."], sandbox_off=True) == []
    assert smoke_process.unexpected_lines(["Traceback (most recent call last):"]) == [
        "Traceback (most recent call last):"]
    assert smoke_process.unexpected_lines([chromium.replace("dbus/bus.cc", "other.cc")])
    mojo = ("[9:9:1122/201602.419452:ERROR:../../../qtwebengine/src/3rdparty/chromium/mojo/public/"
            "cpp/bindings/lib/interface_endpoint_client.cc:732] Message 7 rejected by interface"
            " blink.mojom.Widget")
    assert smoke_process.unexpected_lines([mojo, mojo + "Host"]) == []
    assert smoke_process.unexpected_lines([mojo + "Foo"])
    # X11 noise only where the caller expects an X display (the keyboard scenario).
    x11 = ["GLX: No DRI3 Extension.", "Unable to detect GPU vendor for device: Mesa/X.org"
           " llvmpipe (LLVM 15.0.6, 256 bits) 4.5 (Compatibility Profile) Mesa 22.3.6"]
    assert smoke_process.unexpected_lines(x11) == x11
    assert smoke_process.unexpected_lines(x11, extra=smoke_process.X11_NOISE) == []
    assert smoke_process.unexpected_lines(
        ["Unable to detect GPU vendor for device: NVIDIA GeForce"],
        extra=smoke_process.X11_NOISE)

    (tmp_path / "a").write_text("1", encoding="utf-8")
    before = smoke.snapshot(tmp_path)
    (tmp_path / "b").write_text("2", encoding="utf-8")
    (tmp_path / "a").write_text("11", encoding="utf-8")
    assert smoke.changed_files(before, smoke.snapshot(tmp_path)) == ["a", "b"]


def test_stderr_interleaved_by_a_helper_is_taken_apart() -> None:
    """Seen here: fontconfig in a renderer writes its message in pieces, and one of the app's
    event lines lands in between (one stderr pipe for all processes)."""
    event = '{"ts": 1.5, "level": "info", "event": "session.end", "why": "signal 15"}'
    sorter = smoke_process.LineSorter()
    fed = [sorter.feed(line) for line in (
        f"Fontconfig error: {event}",
        '{"ts": 1.6, "level": "info", "event": "app.exit", "code": 0}',
        "Cannot load default config file: No such file: (null)",
        "plain line {\"ts\": not json",
    )]
    assert [found["event"] if found else None for found, _ in fed] == [
        "session.end", "app.exit", None, None]
    assert [other for _, other in fed] == [
        None, None, "Fontconfig error: Cannot load default config file: No such file: (null)",
        'plain line {"ts": not json']
    assert smoke_process.unexpected_lines([str(fed[2][1])], extra=smoke_process.TLS_NOISE) == []
    assert sorter.close() is None
    assert sorter.feed(f"half a line {event}")[0] is not None
    assert sorter.close() == "half a line "  # never completed: reported as it is


class _Proc:
    def __init__(self, pid: int, cmdline: list[str]) -> None:
        self.pid, self._cmdline = pid, cmdline

    def cmdline(self) -> list[str]:
        return self._cmdline


def test_sandbox_evidence() -> None:
    namespaces = {1: "user:[1]", 2: "user:[1]", 3: "user:[9]"}

    def problems(*procs: _Proc) -> list[str]:
        return smoke_process.sandbox_problems(procs,  # type: ignore[arg-type]
                                              lambda path: namespaces[int(path.split("/")[2])])

    browser = _Proc(1, ["lockdown"])
    unsandboxed = _Proc(2, ["QtWebEngineProcess", "--type=zygote", "--no-zygote-sandbox"])
    zygote = _Proc(3, ["QtWebEngineProcess", "--type=zygote"])
    assert problems(browser, unsandboxed, zygote) == []
    assert problems(browser, unsandboxed) == ["no sandboxed zygote process found"]
    namespaces[3] = "user:[1]"
    assert "shares the browser's user namespace" in problems(browser, zygote)[0]
    zygote._cmdline.append("--no-sandbox")
    assert "pid 3 runs with --no-sandbox" in problems(browser, zygote)
    helpers: list[Any] = [browser, zygote]
    assert smoke_process.cmdlines_with(helpers, "no-sandbox") == [
        (3, "QtWebEngineProcess --type=zygote --no-sandbox")]


#: A stand-in for the app with the same outside behaviour (log events, a helper process, exit on
#: SIGTERM), and a FAKE_MODE to misbehave in one way. It cannot run the keyboard scenario.
FAKE_APP = '''
import json, os, signal, socket, subprocess, sys
from lockdown.sanitize import DANGEROUS_ENV, split_user_args
args, env, mode = sys.argv[1:], os.environ, os.environ.get("FAKE_MODE", "good")
url = json.load(open(args[args.index("--config") + 1]))["start_url"]
def log(event, **fields):
    print(json.dumps({"ts": 1.0, "event": event, "level": "info", **fields}), file=sys.stderr,
          flush=True)
# SIGTERM is waited for, not handled: an Event set from a signal handler can deadlock on the
# Event's own lock if the signal lands while the main thread holds it.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
present = [name for name in DANGEROUS_ENV if name in env]
for name in present + (["QT_PLUGIN_PATH"] if mode == "extra_env" else []):
    if not (mode == "devtools" and name == "QTWEBENGINE_REMOTE_DEBUGGING"):
        log("security.env_removed", variable=name)
for argument in split_user_args(args)[1]:
    log("security.arg_removed", argument=argument)
log("security.sandbox_disabled")
helper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()",
                           *(["--remote-debugging-port=1"] if mode == "helper" else [])],
                          stdin=subprocess.PIPE)
data = env.get("LOCKDOWN_DATA_DIR") or os.path.join(env.get("XDG_DATA_HOME") or os.path.expanduser(
    "~/Library/Application Support"), "lockdown")
os.makedirs(os.path.join(data, "profile"), exist_ok=True)
server = socket.create_server(("127.0.0.1", 0)) if mode == "listen" else None
if mode == "noise":
    print("Segmentation fault in something", file=sys.stderr, flush=True)
if url.startswith("https"):
    log("tls.rejected", url=url)
else:
    blocked = url.partition("to=")[2]
    log("page.loaded", url="lockdown:blocked" if blocked else url, title=blocked)
signal.sigtimedwait({signal.SIGTERM}, 30)
helper.stdin.close()
helper.wait()
log("app.exit", code=3 if mode == "exit3" else 0)
sys.exit(3 if mode == "exit3" else 0)
'''


@pytest.fixture
def fake_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    script = tmp_path / "fake_app.py"
    script.write_text(FAKE_APP, encoding="utf-8")
    monkeypatch.setenv("QTWEBENGINE_DISABLE_SANDBOX", "1")  # the fake has no zygote to inspect
    for name in DANGEROUS_ENV:  # only the smoke test's own attacks, whatever this shell has
        monkeypatch.delenv(name, raising=False)
    return [sys.executable, str(script)]


@pytest.mark.skipif(sys.platform.startswith("win"), reason="the fake app ends on SIGTERM")
def test_smoke_passes_a_well_behaved_app(fake_app: list[str], tmp_path: Path) -> None:
    install = tmp_path / "install"
    install.mkdir()
    said: list[str] = []
    result = smoke.run_smoke(fake_app, install_dir=install, load_timeout=30, keyboard=False,
                             say=said.append)
    assert result.load_s >= 0
    assert (result.keyboard_s, result.not_run) == (None, "switched off by the caller")
    assert said[0] == ("exam: keyboard scenario (login, answer, quit dialog) NOT RUN:"
                       " switched off by the caller")
    assert any("devtools env/argv refused (2 variables, 4 arguments)" in line for line in said)
    assert any(line.startswith("exam: ok: SIGTERM -> exit 0") for line in said)
    assert any(line.startswith("tls: ok: untrusted certificate refused") for line in said)
    assert any(line.startswith("blocked: ok: redirect off the exam host") for line in said)


@pytest.mark.skipif(sys.platform.startswith("win"), reason="the fake app ends on SIGTERM")
def test_keyboard_scenario_not_run_is_said_not_passed(
        fake_app: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Where xdotool cannot type (Windows, macOS) the result says so, line and summary."""
    assert smoke_keyboard.unavailable("linux") is None
    reason = smoke_keyboard.unavailable("win32")
    assert reason is not None and "win32" in reason
    monkeypatch.setattr(smoke_keyboard, "unavailable", lambda: "no X display on this OS")
    assert smoke.main(["--load-timeout", "30", "--", *fake_app]) == 0
    out = capsys.readouterr().out
    assert "exam: keyboard scenario (login, answer, quit dialog) NOT RUN: no X display" in out
    assert out.rstrip().endswith("keyboard scenario NOT RUN: no X display on this OS)")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the keyboard runs on Linux")
def test_keyboard_scenario_needs_its_tools_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(smoke.SmokeError, match=re.escape("needs xdotool and Xvfb (apt-get")):
        smoke.run_smoke(["lockdown"], say=lambda _: None)


@pytest.mark.skipif(sys.platform.startswith("win"), reason="the fake app ends on SIGTERM")
@pytest.mark.parametrize(("mode", "message"), [
    ("listen", "listens on TCP ports"),
    ("noise", "unexpected stderr lines:\n  Segmentation fault in something"),
    ("exit3", "exit status 3 after SIGTERM"),
    ("devtools", "no security.env_removed event {'variable': 'QTWEBENGINE_REMOTE_DEBUGGING'}"),
    ("extra_env", "removed variables ['QTWEBENGINE_CHROMIUM_FLAGS', 'QTWEBENGINE_REMOTE_DEBUGGING',"
                  " 'QT_PLUGIN_PATH']"),
    ("helper", "Chromium helpers were started with DevTools switches"),
])
def test_smoke_fails_a_misbehaving_app(fake_app: list[str], monkeypatch: pytest.MonkeyPatch,
                                       mode: str, message: str) -> None:
    monkeypatch.setenv("FAKE_MODE", mode)
    with pytest.raises(smoke.SmokeError, match=re.escape(message)):
        smoke.run_smoke(fake_app, load_timeout=30, keyboard=False, say=lambda _: None)


def test_smoke_command_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--"]) == 1
    assert "no app command given" in capsys.readouterr().err
    with pytest.raises(smoke.SmokeError, match=re.escape("app program not found: ./no/such")):
        smoke.resolve(["./no/such/app"])


def test_untrusted_tls_site_is_refused_by_a_verifying_client() -> None:
    with UntrustedTlsSite() as site:
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(site.url, timeout=10)
        insecure = ssl._create_unverified_context()  # what the app must never do
        with urllib.request.urlopen(site.url, timeout=10, context=insecure) as reply:
            assert reply.read() == PAGE


# -- the build driver -----------------------------------------------------------------------------
def test_build_platforms_and_paths(tmp_path: Path) -> None:
    assert [build.platform_key(p) for p in ("linux", "win32", "darwin")] == [
        "linux", "windows", "macos"]
    with pytest.raises(build.BuildError, match="sunos5"):
        build.platform_key("sunos5")
    assert build.frozen_paths("windows", tmp_path)[1] == tmp_path / "lockdown" / "lockdown.exe"
    assert build.frozen_paths("macos", tmp_path) == (
        tmp_path / "lockdown.app", tmp_path / "lockdown.app/Contents/MacOS/lockdown")
    as_root = build.smoke_command(Path("/x/lockdown"), Path("/x"), euid=0)
    assert as_root[-4:] == ["--run-as-uid", "65534", "--", "/x/lockdown"]
    assert "--run-as-uid" not in build.smoke_command(Path("/x/lockdown"), Path("/x"), euid=1000)
