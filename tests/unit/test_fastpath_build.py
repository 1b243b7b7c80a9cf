"""lockdown.ui.fastpath.build: the compiler command per platform and where headers come from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockdown.ui import fastpath
from lockdown.ui.fastpath import build
from lockdown.ui.fastpath.build import BuildError, Toolchain, compile_command


def make_headers(root: Path) -> Path:
    for header in build.NEEDED_HEADERS:
        (root / header).parent.mkdir(parents=True, exist_ok=True)
        (root / header).write_text("")
    return root


def tools(tmp_path: Path, *, import_lib: Path | None = None) -> Toolchain:
    return Toolchain(compiler="cxx", qt_include=tmp_path / "qt" / "include",
                     pyside_qt_lib=tmp_path / "PySide6" / "Qt" / "lib", import_lib=import_lib)


def test_linux_links_pyside_qt_by_soname(tmp_path: Path) -> None:
    command = compile_command("linux", tools(tmp_path), tmp_path / "out.so")
    assert command[0] == "cxx"
    assert {"-shared", "-fPIC", "-std=c++17"} <= set(command)
    assert command[command.index("-I") + 1] == str(tmp_path / "qt" / "include")
    assert command[command.index("-L") + 1] == str(tmp_path / "PySide6" / "Qt" / "lib")
    assert "-l:libQt6WebEngineCore.so.6" in command and "-l:libQt6Core.so.6" in command
    assert command[command.index("-o") + 1] == str(tmp_path / "out.so")
    assert str(build.SOURCE) in command


def test_macos_uses_the_frameworks_already_loaded(tmp_path: Path) -> None:
    command = compile_command("darwin", tools(tmp_path), tmp_path / "out.dylib")
    assert "-dynamiclib" in command
    assert command[command.index("-undefined") + 1] == "dynamic_lookup"
    assert command[command.index("-F") + 1] == str(tmp_path / "qt" / "lib")
    assert not any(arg.startswith("-l") or arg == "-framework" for arg in command)


def test_windows_needs_import_libraries(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="Windows"):
        compile_command("win32", tools(tmp_path), tmp_path / "out.dll")
    libs = tmp_path / "qt" / "lib"
    command = compile_command("win32", tools(tmp_path, import_lib=libs), tmp_path / "out.dll")
    assert {"/LD", "/Zc:__cplusplus", "/permissive-", "/EHsc"} <= set(command)
    assert f"/LIBPATH:{libs}" in command
    assert {"Qt6Core.lib", "Qt6WebEngineCore.lib"} <= set(command)
    assert command.index("/link") < command.index("Qt6Core.lib")


def test_unsupported_platform_is_refused() -> None:
    with pytest.raises(fastpath.UnsupportedPlatform):
        fastpath.library_path("sunos5")
    assert fastpath.library_path("linux2").name == "liblockdown_fastpath.so"


def test_headers_in_a_folder_or_in_macos_frameworks(tmp_path: Path) -> None:
    assert build.has_headers(make_headers(tmp_path / "plain"))
    assert not build.has_headers(tmp_path / "empty")
    qt = tmp_path / "mac"
    (qt / "include").mkdir(parents=True)
    for header in build.NEEDED_HEADERS:
        module, name = header.split("/")
        target = qt / "lib" / f"{module}.framework" / "Headers" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("")
    assert build.has_headers(qt / "include")


def test_explicit_headers_must_hold_what_the_source_includes(tmp_path: Path) -> None:
    assert build.find_headers(str(make_headers(tmp_path / "qt"))) == tmp_path / "qt"
    with pytest.raises(BuildError, match="QWebEngineUrlRequestInterceptor"):
        build.find_headers(str(tmp_path / "nothing"))


def test_without_headers_or_apt_the_reason_is_given(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(build, "system_header_dirs", lambda: [])
    monkeypatch.setattr(build, "debian_header_cache", lambda: tmp_path / "cache")
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(BuildError, match="--qt-include"):
        build.find_headers(None)


def test_main_fails_with_one_line_and_leaves_no_library(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(build, "library_path", lambda platform: tmp_path / "lib.so")
    assert build.main(["--qt-include", str(tmp_path / "none"), "--force"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lockdown.ui.fastpath.build: not built:") and "Traceback" not in err
    assert not (tmp_path / "lib.so").exists()


def test_a_failed_compile_leaves_no_partial_library(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setattr(build, "library_path", lambda platform: tmp_path / "lib.so")
    monkeypatch.setattr(build, "find_compiler", lambda platform: "false")
    with pytest.raises(BuildError, match="compiler failed"):
        build.build(str(make_headers(tmp_path / "qt")), force=True, platform="linux")
    assert list(tmp_path.glob("lib.so*")) == []


def test_up_to_date_follows_the_source(tmp_path: Path) -> None:
    library = tmp_path / "lib.so"
    assert not build.up_to_date(library)
    library.write_bytes(b"")
    source_time = build.SOURCE.stat().st_mtime
    os.utime(library, (source_time - 10, source_time - 10))
    assert not build.up_to_date(library)
    os.utime(library, (source_time + 10, source_time + 10))
    assert build.up_to_date(library)
