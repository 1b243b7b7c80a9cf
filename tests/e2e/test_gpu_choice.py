"""The app's GPU choice (lockdown.gpu) as a student's machine makes it, and as IT overrides it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lockdown.demo.site import DemoSite
from tests.e2e.conftest import AppProcess, demo_config

pytestmark = pytest.mark.e2e


def test_no_gpu_where_nothing_is_shown_unless_it_is_asked_for(
    e2e_site: DemoSite, start_app: Callable[..., AppProcess], tmp_path: Path,
) -> None:
    auto = start_app("--start-url", e2e_site.start_url)  # offscreen (see app_env)
    event = auto.wait_event(lambda e: e.get("event") == "engine.gpu")
    assert event["message"] == "GPU off: software rendering"
    assert "offscreen" in str(event["reason"])
    auto.wait_event(lambda e: e.get("event") == "page.loaded")  # pages render without it
    auto.proc.terminate()
    assert auto.wait_exit() == 0

    forced = start_app("--config", str(demo_config(e2e_site, tmp_path / "on.json",
                                                   gpu_acceleration="on")))
    event = forced.wait_event(lambda e: e.get("event") == "engine.gpu")
    assert event["message"] == "GPU left to Chromium"
    assert event["reason"] == "gpu_acceleration is on"
    forced.wait_event(lambda e: e.get("event") == "page.loaded")
