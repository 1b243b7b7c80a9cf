"""Devtools routes from the environment and argv fail against the real process; no TCP listener."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lockdown.demo.site import DemoSite
from tests.e2e.conftest import AppProcess, demo_config

pytestmark = pytest.mark.e2e


def test_env_and_argv_devtools_routes_are_removed(
    e2e_site: DemoSite, tmp_path: Path, app_env: dict[str, str],
    start_app: Callable[..., AppProcess],
) -> None:
    env = dict(app_env, QTWEBENGINE_REMOTE_DEBUGGING="9222",
               QTWEBENGINE_CHROMIUM_FLAGS="--remote-debugging-port=9223")
    config = demo_config(e2e_site, tmp_path / "policy.json")
    app = start_app("--config", str(config), "--remote-debugging-port=9224",
                    "--auto-open-devtools-for-tabs", "--webEngineArgs",
                    "--remote-debugging-port=9225", env=env)
    app.wait_event(lambda e: e.get("event") == "page.loaded")
    removed_env = {e["variable"] for e in app.events if e["event"] == "security.env_removed"}
    assert removed_env == {"QTWEBENGINE_REMOTE_DEBUGGING", "QTWEBENGINE_CHROMIUM_FLAGS"}
    removed_args = {e["argument"] for e in app.events if e["event"] == "security.arg_removed"}
    assert {"--remote-debugging-port=9224", "--auto-open-devtools-for-tabs", "--webEngineArgs",
            "--remote-debugging-port=9225"} <= removed_args
    assert len(app.pids()) >= 2  # the browser and its QtWebEngineProcess helpers
    assert app.listening_ports() == []
    for pid in app.pids()[1:]:  # Chromium's processes: what the engine was really told
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert "remote-debugging" not in cmdline


def test_sigterm_ends_cleanly(e2e_site: DemoSite, tmp_path: Path,
                              start_app: Callable[..., AppProcess]) -> None:
    app = start_app("--config", str(demo_config(e2e_site, tmp_path / "policy.json")))
    app.wait_event(lambda e: e.get("event") == "page.loaded")
    app.proc.terminate()
    assert app.wait_exit() == 0
    assert any(e.get("event") == "app.exit" for e in app.events)
