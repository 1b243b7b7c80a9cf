"""The app as a subprocess: JSON log lines on stderr, Xvfb where keys and focus matter."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from installers import smoke_keyboard
from lockdown.demo.site import DemoSite

ROOT = Path(__file__).resolve().parents[2]


class AppProcess:
    """A running ``python -m lockdown`` whose JSON log events the test can wait for."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lockdown", "--log-format", "json", *args],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        self.events: list[dict[str, Any]] = []
        self.other_lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                try:
                    parsed = json.loads(line)
                except json.JSONDecodeError:
                    self.other_lines.append(line.rstrip())
                else:
                    if isinstance(parsed, dict):
                        self.events.append(parsed)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool],
                   timeout: float = 60) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((e for e in self.events if predicate(e)), None)

        with self._cond:
            ok = self._cond.wait_for(lambda: find() is not None or self.proc.poll() is not None,
                                     timeout=timeout)
            found = find()
        if found is None:
            tail = "\n".join(json.dumps(e) for e in self.events[-15:])
            raise AssertionError(f"no matching event (exited={self.proc.poll()}, waited={ok}):"
                                 f"\n{tail}\n{self.other_lines[-10:]}")
        return found

    def pids(self) -> list[int]:
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent.pid] + [c.pid for c in parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def wait_exit(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        self._close()
        return code

    def kill(self) -> None:
        """SIGKILL the whole process group (the browser and its Chromium helpers)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=10)
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """One private Xvfb for the session (the smoke test's own: installers/smoke_keyboard.py)."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is missing: run the README's set-up command (./dev.sh test)")
    with smoke_keyboard.virtual_display() as display:
        yield display


@pytest.fixture
def app_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QTWEBENGINE_REMOTE",))}
    env["LOCKDOWN_DATA_DIR"] = str(tmp_path / "data")
    env["LOCKDOWN_DOWNLOADS_DIR"] = str(tmp_path / "Downloads")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


@pytest.fixture
def start_app(app_env: dict[str, str]) -> Iterator[Callable[..., AppProcess]]:
    started: list[AppProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> AppProcess:
        app = AppProcess(list(args), env or app_env)
        started.append(app)
        return app

    yield start
    for app in started:
        app.kill()


@pytest.fixture(scope="module")
def e2e_site() -> Iterator[DemoSite]:
    demo = DemoSite(test_routes=True)
    demo.start()
    yield demo
    demo.stop()


def demo_config(site: DemoSite, path: Path, **extra: object) -> Path:
    """A policy file for the test's own demo site, as IT would write it for a real Moodle."""
    values: dict[str, object] = {
        "start_url": site.start_url,
        "allowed_hosts": [site.site_netloc],
        "idp_hosts": [site.idp_netloc],
        "login_paths": [site.login_path],
        "downloads_allowed_on": [f"{site.base_url}staff/*"],
        "uploads_allowed_on": [f"{site.base_url}staff/*"],
        **extra,
    }
    path.write_text(json.dumps(values), encoding="utf-8")
    return path
