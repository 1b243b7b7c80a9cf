"""lockdown.startup: Qt's libraries mapped in a thread, PySide6's support code from a cache.

What could go wrong is checked in fresh interpreters (PySide6 is imported once per process):
the thread must map the libraries without importing PySide6, the main thread must never wait on
the loader behind it, and cached code must be exactly what compiling would give.
"""

from __future__ import annotations

import builtins
import importlib.util
import marshal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lockdown.cli import _subcommands
from lockdown.commands import NAMES
from lockdown.startup import code_cache, preload

ROOT = Path(__file__).resolve().parents[2]


def python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen",
           "LOCKDOWN_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result


def test_the_launcher_knows_every_tool() -> None:
    assert set(_subcommands()) == NAMES


def test_the_extension_paths_are_pyside6_s_own_files() -> None:
    paths = preload.extension_paths()
    assert [Path(p).name.split(".")[0] for p in paths] == list(preload.QT_MODULES)
    assert all(Path(p).is_file() and Path(p).parent.name == "PySide6" for p in paths)


def test_without_pyside6_nothing_is_preloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert preload.extension_paths() == []
    monkeypatch.setattr(preload, "_started", [])
    assert preload.start() is False


def test_other_systems_load_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preload, "_started", [])
    assert preload.start(platform="win32") is False
    assert preload.start(platform="darwin") is False
    preload.finished()  # nothing to wait for


def test_the_thread_maps_qt_without_importing_pyside6(tmp_path: Path) -> None:
    result = python("""
        import sys
        from lockdown.startup import preload
        assert preload.start()
        assert not preload.start()  # once per process
        preload.finished()
        maps = open("/proc/self/maps").read()
        print("shiboken6" in sys.modules, "libQt6WebEngineCore.so" in maps)
        from PySide6.QtWebEngineCore import QWebEngineProfile  # the import still works
    """, tmp_path)
    assert result.stdout.split() == ["False", "True"]


def test_the_main_thread_loads_no_extension_module_while_the_thread_runs(tmp_path: Path) -> None:
    """Else it would wait for the loader's lock behind a Qt library: MAIN_THREAD_EXTENSIONS
    must list every extension module the way to the browser imports before PySide6."""
    (tmp_path / "policy.toml").write_text("allow_print = true\n", encoding="utf-8")
    (tmp_path / "policy.json").write_text('{"allow_print": true}', encoding="utf-8")
    result = python(f"""
        import sys
        from pathlib import Path
        from lockdown.startup import preload
        preload.start()
        before = set(sys.modules)
        from lockdown import cli
        args = cli.browser_parser().parse_args(["--start-url", "https://moodle.example.ac.uk/"])
        cli.build_policy(config=None, start_url=args.start_url)
        for name in ("policy.toml", "policy.json"):
            cli.build_policy(config=Path({str(tmp_path)!r}) / name, start_url=None)
        new = set(sys.modules) - before
        print(sorted(n for n in new if str(getattr(sys.modules[n], "__file__", "") or "")
                     .endswith((".so", ".pyd"))
                     and n not in ("_ctypes", "_struct")))  # (imported by the thread itself)
        print("shutil" in sys.modules)
    """, tmp_path)
    assert result.stdout.split("\n")[:2] == ["[]", "False"]


def test_recorded_code_is_used_instead_of_compiling(tmp_path: Path) -> None:
    cache = tmp_path / "support.codecache"
    python(f"""
        from pathlib import Path
        from lockdown.startup import code_cache
        assert code_cache.record(Path({str(cache)!r})) >= 10
    """, tmp_path)
    codes = code_cache.read(cache)
    assert "shibokensupport/signature/loader.py" in codes
    result = python(f"""
        import builtins
        from pathlib import Path
        from lockdown.startup import code_cache
        compiled = []
        original = builtins.compile
        builtins.compile = lambda *a, **k: compiled.append(a[1]) or original(*a, **k)
        with code_cache.compiled_from_cache(Path({str(cache)!r})):
            from PySide6.QtCore import QUrl
        assert builtins.compile is not original  # put back as it was found
        print(compiled, QUrl("https://a.example/x").host())
    """, tmp_path)
    assert result.stdout.split() == ["[]", "a.example"]


def write_cache(path: Path, codes: dict[str, tuple[bytes, object]]) -> None:
    path.write_bytes(marshal.dumps((importlib.util.MAGIC_NUMBER, codes)))


@pytest.fixture
def before_pyside6(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as it is before its first PySide6 import (pytest-qt has imported it)."""
    monkeypatch.delitem(sys.modules, "shiboken6")


def test_only_the_recorded_source_gets_the_recorded_code(tmp_path: Path,
                                                         before_pyside6: None) -> None:
    cache = tmp_path / "c"
    write_cache(cache, {"m.py": (b"value = 1\n", compile(b"value = 2\n", "m.py", "exec"))})
    with code_cache.compiled_from_cache(cache):
        same: dict[str, object] = {}
        exec(compile(b"value = 1\n", "m.py", "exec"), same)
        changed: dict[str, object] = {}
        exec(compile(b"value = 3\n", "m.py", "exec"), changed)
        text = compile("value = 1\n", "m.py", "exec")  # str sources are never cached
    assert same["value"] == 2  # (a recorded code object the test made differ on purpose)
    assert changed["value"] == 3
    assert text.co_consts[0] == 1


def test_compiling_through_the_cache_changes_no_semantics(tmp_path: Path,
                                                         before_pyside6: None) -> None:
    """The wrapper's own module has no ``from __future__ import annotations`` to pass on."""
    cache = tmp_path / "c"
    write_cache(cache, {"other.py": (b"", compile(b"", "other.py", "exec"))})
    namespace: dict[str, object] = {}
    with code_cache.compiled_from_cache(cache):
        exec(compile(b"def f(x: int) -> None: pass\n", "m.py", "exec"), namespace)
    assert namespace["f"].__annotations__ == {"x": int, "return": None}


@pytest.mark.parametrize("content", [b"", b"garbage", marshal.dumps((b"\x00\x00\r\n", {})),
                                     marshal.dumps("not a tuple")])
def test_a_missing_or_damaged_cache_is_ignored(tmp_path: Path, content: bytes,
                                               before_pyside6: None) -> None:
    cache = tmp_path / "c"
    assert code_cache.read(cache) == {}
    cache.write_bytes(content)
    assert code_cache.read(cache) == {}
    original = builtins.compile
    with code_cache.compiled_from_cache(cache):
        assert builtins.compile is original


def test_recording_needs_a_process_without_pyside6(tmp_path: Path) -> None:
    import PySide6  # noqa: F401  # (pytest-qt has imported it already)

    with pytest.raises(RuntimeError):
        code_cache.record(tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_a_library_that_will_not_load_is_left_to_the_import(tmp_path: Path) -> None:
    """No traceback from the thread: the import then reports the problem itself."""
    result = python(f"""
        from lockdown.startup import preload
        preload._map_libraries([{str(tmp_path / "missing.so")!r}])
        preload._map_libraries([{str(tmp_path)!r}])  # (not a library)
        print("ok")
    """, tmp_path)
    assert result.stdout.split() == ["ok"] and result.stderr == ""


def test_once_pyside6_is_imported_the_cache_is_not_even_read(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    write_cache(cache, {"m.py": (b"value = 1\n", compile(b"value = 2\n", "m.py", "exec"))})
    original = builtins.compile
    with code_cache.compiled_from_cache(cache):  # (pytest-qt has imported PySide6)
        assert builtins.compile is original


@pytest.mark.parametrize(("argv", "starts"), [
    (["lockdown"], True),
    (["lockdown", "--start-url", "https://moodle.example.ac.uk/"], True),
    (["lockdown", "numbas://moodle.example.ac.uk/launch"], True),
    *((["lockdown", tool, "x"], False) for tool in sorted(NAMES)),
])
def test_the_it_tools_never_start_the_thread(monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                              starts: bool) -> None:
    calls: list[str] = []

    def start(platform: str) -> bool:
        calls.append(platform)
        return True

    monkeypatch.setattr(preload, "start", start)
    assert preload.start_for(argv, platform="linux") is starts
    assert calls == (["linux"] if starts else [])
